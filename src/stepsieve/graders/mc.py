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

Robustness options (off by default; measured in docs/graders.md): ``rollout_check="rules"``
counts a rollout as a success only when its own arithmetic claims hold (a weak policy
reaches the right answer from a wrong prefix through a compensating slip); ``confirm``
refutes a dead end when a longer prefix of the trajectory is recoverable (first-error mode
probes the right neighbour of the end it found); ``threshold`` makes a prefix a dead end
when its value is at most that; ``extend`` re-estimates a dead end on ``extend`` more
rollouts (another seed) before it counts; ``recheck`` (first-error mode) draws that many
more rollouts only for the dead end the search settles on, and searches on to its right
when it recovers — the measured failure with a weak policy is a correct prefix that
looks dead, and a recovery is reliable evidence while a zero is not.

Prefixes shared by several trajectories of one task in a batch (found with the
``TaskTree``) are probed once; later occurrences record ``"shared": true`` and no cost.
``root=True`` also probes the empty prefix and records ``meta["<name>_root"] = {"n",
"n_correct"}``, which the ``progress`` grader uses as V(empty prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from stepsieve._errors import ConfigError
from stepsieve._registry import check_options
from stepsieve.backends import Backend
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.graders._rollout import ProbeResult, Rollouts, claims_hold
from stepsieve.trajectory import Cost, Label, TaskTree, Trajectory, Verdict, task_key
from stepsieve.worlds import WORLDS, AgentWorld, StatesAnswer, Task, World

__all__ = ["MCGrader", "MCOptions", "extend_seed"]

Mode = Literal["every-step", "first-error"]
_HASHED = ("n", "mode", "temperature", "max_tokens", "seed", "keep_rollouts", "root", "max_turns")  # always


@dataclass(frozen=True)
class MCOptions:
    """The ``mc`` grader's options."""

    world: str | None = None  # world that checks answers (default: the records' meta.world, else math)
    n: int = 8  # rollouts per probed prefix
    mode: Mode = "every-step"  # every-step: probe every prefix; first-error: binary search for the first dead end
    temperature: float = 1.0  # sampling temperature of rollouts
    max_tokens: int = 256  # tokens per rollout (per turn in agent worlds)
    seed: int = 0  # sampling seed: rollouts are reproducible
    keep_rollouts: bool = False  # store each rollout's text in the labels
    root: bool = False  # also probe the empty prefix (V of the task, for progress)
    max_turns: int = 16  # agent worlds: turns per rollout
    threshold: float = 0.0  # a prefix is a dead end when its value <= this
    extend: int = 0  # extra rollouts drawn for a dead end before it counts
    confirm: bool = False  # a dead end is refuted by a recoverable longer prefix
    rollout_check: Literal["rules"] | None = None  # rules: a success must make no false arithmetic claim
    recheck: int = 0  # first-error: extra rollouts re-estimating the dead end the search settles on

    def __post_init__(self) -> None:
        check_options(self, "grader 'mc'")
        if self.n < 1:
            raise ConfigError(f"mc needs n >= 1 rollouts, got {self.n}")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"mc threshold must be in [0, 1), got {self.threshold}")
        if self.extend < 0 or self.recheck < 0:
            raise ConfigError(f"mc extend and recheck must be >= 0 extra rollouts, got {self.extend}, {self.recheck}")
        if self.recheck and self.mode != "first-error":
            raise ConfigError("mc recheck re-estimates the dead end a first-error search settles on: "
                              "use it with mode='first-error' (every-step: extend)")
        if self.recheck and self.extend:
            raise ConfigError("mc recheck and extend both re-estimate dead ends: choose one")


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
        self.rechecked: set[int] = set()  # dead ends re-estimated with ``recheck`` rollouts


class MCGrader:
    """Monte Carlo step labels (see the module docstring). ``world`` defaults to the one
    ``options.world`` names (else ``math``); keywords override single options."""

    Options = MCOptions

    def __init__(
        self, backend: Backend, world: World | None = None, options: MCOptions | None = None, *,
        name: str = "mc", **kw: Any,
    ) -> None:
        o = self.options = with_options(MCOptions, options, kw, "grader 'mc'")
        self.threshold, self.extend, self.confirm, self.recheck = o.threshold, o.extend, o.confirm, o.recheck
        check = claims_hold if o.rollout_check == "rules" else None
        self.name = name
        self.backend = backend
        self.world = world if world is not None else WORLDS.get(o.world or "math")()
        self.mode = o.mode
        self.keep_rollouts = o.keep_rollouts
        self.root = o.root
        # Options added since the first release enter the hash only when set, so labels
        # written before they existed keep their configuration hash (jobs stay resumable).
        self.config: dict[str, Any] = {
            "backend": getattr(backend, "model_id", None) or f"{backend.name}:{backend.model}",
            "world": self.world.name,
            **hashed_config(o, always=_HASHED, skip=("world",)),
        }
        self._ref = grader_ref(name, self.config)
        roll: dict[str, Any] = {"temperature": o.temperature, "max_tokens": o.max_tokens, "max_turns": o.max_turns,
                                "check": check}
        self._roll = Rollouts(backend, self.world, o.n, seed=o.seed, **roll)
        # Extra rollouts for a borderline probe: another seed, so they are new samples.
        self._more = Rollouts(backend, self.world, max(o.extend, o.recheck, 1), seed=extend_seed(o.seed), **roll)
        self.probes = 0  # prefixes probed with rollouts over this grader's life

    @classmethod
    def from_options(cls, options: MCOptions, ctx: GradeContext) -> MCGrader:
        world = WORLDS.get(options.world or ctx.records_world() or "math")()
        return cls(ctx.make_backend(), world, options, name=ctx.label or "mc")

    # ---- prefixes ------------------------------------------------------------------------

    def _terminal(self, it: _Item, i: int) -> bool | None:
        """Whether the prefix ending at step i already states the answer: then its value
        is that answer's correctness (returned); None when it does not."""
        w = self.world
        if isinstance(w, AgentWorld):
            if not w.done(it.texts[: i + 1]):
                return None
            return bool(w.check_answer(it.task, w.parse_answer("\n".join(it.texts[: i + 1]))))
        if isinstance(w, StatesAnswer):
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
        probes = [(occ[0][0].task, occ[0][0].texts[: occ[0][1] + 1]) for _, occ in groups]
        results = self._roll.run(probes)
        self.probes += len(groups)
        if self.extend:  # a dead end on N rollouts is re-estimated on N + extend before it counts
            again = [k for k, r in enumerate(results) if self._dead(r)]
            for k, more in zip(again, self._more.run([probes[k] for k in again])):
                results[k] = _merge(results[k], more)
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
            if not self._dead(it.values[it.hi]):
                it.fe = -1  # the full trajectory reaches a right answer: no step is a dead end
            else:
                active.append(it)
        while active:
            want: list[tuple[_Item, int]] = []
            again: list[_Item] = []  # settled dead ends to re-estimate (``recheck``)
            for it in active:
                if it.lo < it.hi:
                    want.append((it, (it.lo + it.hi) // 2))
                elif self.confirm and it.lo + 1 < len(it.texts) and it.lo + 1 not in it.values:
                    want.append((it, it.lo + 1))  # confirm the dead end with its right neighbour
                elif self._wants_recheck(it):
                    again.append(it)
                else:
                    it.fe = it.lo
            self._probe(want)
            self._recheck(again)
            for it in again:
                if not self._dead(it.values[it.lo]):
                    # Recovered: the settled dead end is not one; search on to its right.
                    i = it.lo
                    it.lo = i + 1
                    it.hi = min((j for j, r in it.values.items() if j > i and self._dead(r)), default=len(it.texts) - 1)
            for it, i in want:
                dead = self._dead(it.values[i])
                if i <= it.hi and it.lo < it.hi:  # a bisection probe
                    if dead:
                        it.hi = i  # left: the error is at i or before
                    else:
                        it.lo = i + 1  # right: i is still recoverable
                elif dead:
                    if not self._wants_recheck(it):
                        it.fe = it.lo  # confirmed: the next prefix is a dead end too
                else:
                    # The right neighbour is recoverable, so the found dead end is not one
                    # (its own step then that rollout succeed): search on to the right.
                    it.lo = i + 1
                    it.hi = min(j for j, r in it.values.items() if j > i and self._dead(r))
            active = [it for it in active if it.fe is None]

    def _wants_recheck(self, it: _Item) -> bool:
        """Whether the dead end the search settled on still needs its ``recheck`` rollouts:
        not for a prefix that states its answer (its value is exact) or one already redone."""
        res = it.values.get(it.lo)
        return bool(self.recheck) and it.lo not in it.rechecked and res is not None and bool(res.rollouts)

    def _recheck(self, items: list[_Item]) -> None:
        """``recheck`` more rollouts (the ``extend`` seed: fresh samples) for each item's
        settled dead end, merged into its value and paid on that step."""
        if not items:
            return
        probes = [(it.task, it.texts[: it.lo + 1]) for it in items]
        self.probes += len(items)
        for it, more in zip(items, self._more.run(probes)):
            it.rechecked.add(it.lo)
            it.values[it.lo] = _merge(it.values[it.lo], more)
            it.nodes[it.lo].record(more.n, more.n_correct)
            it.owned.add(it.lo)

    def _dead(self, res: ProbeResult) -> bool:
        """A dead end: no (or too few, with ``threshold``) rollouts reach the right answer."""
        return res.n_correct == 0 or res.n_correct <= self.threshold * res.n

    def _alive_after(self, it: _Item) -> list[bool]:
        """Per step: whether this prefix or a longer one has a probe that is not a dead end.
        A success from a longer prefix is a success of every shorter one (its own steps,
        then that rollout), which is the hard label's "some completion succeeds"."""
        out, seen = [False] * len(it.texts), False
        for i in range(len(it.texts) - 1, -1, -1):
            res = it.values.get(i)
            seen = seen or (res is not None and not self._dead(res))
            out[i] = seen
        return out

    # ---- labels ----------------------------------------------------------------------------

    def _label(self, it: _Item, i: int, alive: list[bool]) -> Label:
        res = it.values.get(i)
        if res is None:  # first-error mode, not probed: the verdict the search implies
            assert it.fe is not None
            implied: Verdict | None = "correct" if it.fe == -1 or i < it.fe else None
            return Label(None, implied, "not probed: implied by the first-error search", Cost(), self._ref)
        extra: dict[str, Any] = {"n": res.n, "n_correct": res.n_correct}
        if not res.rollouts:
            extra["from"] = "outcome"  # the prefix states its answer: no rollouts needed
        if i not in it.owned:
            extra["shared"] = True
        if self.keep_rollouts and res.rollouts:
            extra["rollouts"] = res.rollouts
        verdict: Verdict = "incorrect" if self._dead(res) else "correct"
        if verdict == "incorrect" and (
            (it.fe is not None and i < it.fe) or (it.fe is None and self.confirm and alive[i])
        ):
            verdict = "correct"  # refuted: a longer prefix of this trajectory is recoverable
            extra["refuted"] = True
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
            alive = self._alive_after(it)
            for i, s in enumerate(it.t.steps):
                s.labels[self.name] = self._label(it, i, alive)
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


def extend_seed(seed: int) -> int:
    """The seed of ``extend`` rollouts: a fixed function of ``seed``, so they are fresh
    samples (not a repeat of the first N) and a resumed job draws the same ones."""
    return (seed * 1_000_003 + 0x5EED) % (2**31 - 1)


def _merge(a: ProbeResult, b: ProbeResult) -> ProbeResult:
    return ProbeResult(a.n + b.n, a.n_correct + b.n_correct, a.rollouts + b.rollouts, a.cost + b.cost)
