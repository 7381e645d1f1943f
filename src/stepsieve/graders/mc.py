"""The ``mc`` grader: Monte Carlo process labels from rollouts of a policy.

The value of a prefix is the share of N completions from it that reach a correct answer
(Math-Shepherd). Label contract (other stages rely on it):

- step i's ``score`` = MC value of the prefix ending at step i (inclusive);
- ``extra = {"n": N, "n_correct": k}`` (plus ``"rollouts": [{"text", "correct"}]`` with
  ``keep_rollouts``: ``text`` is the continuation after step i);
- verdict: ``correct`` when k > 0 (hard label: some completion succeeds), else
  ``incorrect``; the soft label is the score;
- a prefix that already states the final answer (the answer line; for agents, the
  ``answer`` call) needs no rollouts: its value is whether that answer is right, recorded
  as ``{"n": 1, "n_correct": 0|1, "from": "outcome"}`` at zero cost;
- ``cost``: ``calls`` = completions sampled for this step, ``tokens_out`` their tokens,
  ``tokens_in`` and ``seconds`` this probe's share of its batch.

Modes:

- ``every-step``: every prefix is probed (n - 1 probes for n steps, the last is free).
- ``first-error`` (OmegaPRM's binary search): on a trajectory whose final answer is wrong,
  search for the first step with value 0: probe the middle of [lo, hi], go left when it
  is 0, right otherwise — about log2(n) probes. A trajectory whose answer is right has
  every prefix reachable (the trajectory itself is a success), so it is labelled correct
  throughout with no probes. Steps the search did not probe carry the verdict the search
  implies — before the found error ``correct``, after it ``None`` — and ``score`` None.

Prefixes shared by several trajectories of one task in a batch (found with the
``TaskTree``) are probed once; later occurrences record ``"shared": true`` and no cost.
``root=True`` also probes the empty prefix and records ``meta["<name>_root"] = {"n",
"n_correct"}``, which the ``progress`` grader uses as V(empty prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal

from stepsieve._errors import ConfigError
from stepsieve.graders._protocol import grader_ref
from stepsieve.graders._rollout import AnswerChecker, ProbeResult, Rollouts, is_agent_world
from stepsieve.trajectory import Cost, Label, TaskTree, Trajectory, task_key
from stepsieve.worlds import Task

__all__ = ["MCGrader"]

Mode = Literal["every-step", "first-error"]


class _Item:
    """One trajectory under grading: its task, step texts, search state and results."""

    def __init__(self, t: Trajectory, task: Task, nodes: list[Any]) -> None:
        self.t = t
        self.task = task
        self.texts = [s.text for s in t.steps]
        self.nodes = nodes
        self.values: dict[int, ProbeResult] = {}
        self.owned: set[int] = set()  # steps whose probe this trajectory paid for
        self.lo = 0
        self.hi = len(self.texts) - 1
        self.fe: int | None = None  # found first error (-1 = none) once the search ends


class MCGrader:
    """Monte Carlo step labels (see the module docstring)."""

    def __init__(
        self,
        backend: Any,
        world: Any = None,
        *,
        n: int = 8,
        mode: Mode = "every-step",
        temperature: float = 1.0,
        max_tokens: int = 256,
        seed: int = 0,
        keep_rollouts: bool = False,
        root: bool = False,
        max_turns: int = 16,
        name: str = "mc",
    ) -> None:
        if mode not in ("every-step", "first-error"):
            raise ConfigError(f"mc mode must be 'every-step' or 'first-error', got {mode!r}")
        if n < 1:
            raise ConfigError(f"mc needs n >= 1 rollouts, got {n}")
        self.name = name
        self.backend = backend
        self.world = world if world is not None else AnswerChecker()
        self.mode = mode
        self.keep_rollouts = keep_rollouts
        self.root = root
        self.config: dict[str, Any] = {
            "backend": getattr(backend, "model_id", None) or f"{backend.name}:{backend.model}",
            "world": self.world.name,
            "n": n,
            "mode": mode,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "seed": seed,
            "keep_rollouts": keep_rollouts,
            "root": root,
            "max_turns": max_turns,
        }
        self._ref = grader_ref(name, self.config)
        self._roll = Rollouts(
            backend, self.world, n, temperature=temperature, max_tokens=max_tokens, seed=seed, max_turns=max_turns
        )
        self.probes = 0  # prefixes probed with rollouts over this grader's life

    # ---- prefixes ------------------------------------------------------------------------

    def _terminal(self, it: _Item, i: int) -> bool | None:
        """Whether the prefix ending at step i already states the answer: then its value
        is that answer's correctness (returned); None when it does not."""
        w = self.world
        if is_agent_world(w):
            if not w.done(it.texts[: i + 1]):
                return None
            return bool(w.check_answer(it.task, w.parse_answer("\n".join(it.texts[: i + 1]))))
        if hasattr(w, "states_answer"):
            if not w.states_answer(it.texts[i]):
                return None
        elif w.parse_answer(it.texts[i]) is None:
            return None
        return bool(w.check_answer(it.task, w.parse_answer("\n".join(it.texts[: i + 1]))))

    def _probe(self, want: list[tuple[_Item, int]]) -> None:
        """Fill ``it.values[i]`` for every wanted (item, step): terminal prefixes for free,
        each distinct tree node once, in one batched rollout call."""
        todo: dict[int, tuple[Any, list[tuple[_Item, int]]]] = {}
        for it, i in want:
            if i in it.values:
                continue
            term = self._terminal(it, i)
            if term is not None:
                it.values[i] = ProbeResult(1, int(term), [], Cost())
                it.owned.add(i)
                continue
            node = it.nodes[i]
            todo.setdefault(id(node), (node, []))[1].append((it, i))
        groups = list(todo.values())
        results = self._roll.run([(occ[0][0].task, occ[0][0].texts[: occ[0][1] + 1]) for _, occ in groups])
        self.probes += len(groups)
        for (node, occ), res in zip(groups, results):
            node.record(res.n, res.n_correct)
            for k, (it, i) in enumerate(occ):
                it.values[i] = res if k == 0 else ProbeResult(res.n, res.n_correct, res.rollouts, Cost())
                if k == 0:
                    it.owned.add(i)

    # ---- search ----------------------------------------------------------------------------

    def _every_step(self, items: list[_Item]) -> None:
        self._probe([(it, i) for it in items for i in range(len(it.texts))])

    def _first_error(self, items: list[_Item]) -> None:
        self._probe([(it, it.hi) for it in items])  # the last prefix: usually free (the answer)
        active = []
        for it in items:
            if it.values[it.hi].n_correct > 0:
                it.fe = -1  # the full trajectory reaches a right answer: no step is a dead end
            else:
                active.append(it)
        while active:
            want = []
            for it in active:
                if it.lo >= it.hi:
                    it.fe = it.lo
                else:
                    want.append((it, (it.lo + it.hi) // 2))
            self._probe(want)
            for it, mid in want:
                if it.values[mid].n_correct == 0:
                    it.hi = mid  # left: the error is at mid or before
                else:
                    it.lo = mid + 1  # right: mid is still recoverable
            active = [it for it in active if it.fe is None]

    # ---- labels ----------------------------------------------------------------------------

    def _label(self, it: _Item, i: int) -> Label:
        res = it.values.get(i)
        if res is None:  # first-error mode, not probed: the verdict the search implies
            assert it.fe is not None
            verdict = "correct" if it.fe == -1 or i < it.fe else None
            return Label(None, verdict, "not probed: implied by the first-error search", Cost(), self._ref)
        extra: dict[str, Any] = {"n": res.n, "n_correct": res.n_correct}
        if not res.rollouts:
            extra["from"] = "outcome"  # the prefix states its answer: no rollouts needed
        if i not in it.owned:
            extra["shared"] = True
        if self.keep_rollouts and res.rollouts:
            extra["rollouts"] = res.rollouts
        verdict = "correct" if res.n_correct > 0 else "incorrect"
        return Label(res.value, verdict, None, res.cost if i in it.owned else Cost(), self._ref, extra)

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        batch = list(trajectories)
        trees: dict[str, TaskTree] = {}
        items = []
        for t in batch:
            key = task_key(t)
            tree = trees.setdefault(key, TaskTree(key, t.task, None))
            items.append(_Item(t, self.world.task_from_trajectory(t), tree.add(t)))
        if self.root:
            self._probe_roots(items, trees)
        if self.mode == "every-step":
            self._every_step(items)
        else:
            self._first_error(items)
        for it in items:
            for i, s in enumerate(it.t.steps):
                s.labels[self.name] = self._label(it, i)
            yield it.t

    def _probe_roots(self, items: list[_Item], trees: dict[str, TaskTree]) -> None:
        keys = list(dict.fromkeys(task_key(it.t) for it in items))
        first = {k: next(it for it in items if task_key(it.t) == k) for k in keys}
        res = self._roll.run([(first[k].task, []) for k in keys])
        self.probes += len(keys)
        by_key = dict(zip(keys, res))
        for it in items:
            r = by_key[task_key(it.t)]
            it.t.meta[f"{self.name}_root"] = {"n": r.n, "n_correct": r.n_correct}
