"""Step-level preference pairs from a task's prefix tree.

Two sources, both read from the ``TaskTree`` of one task (``PairOptions.kinds``):

- ``sibling``: at every fork, two children whose values differ by at least ``margin``
  give a pair — same prefix, the higher-valued step chosen (MCTS-DPO / SPORT style).
- ``first_error`` (Step-DPO): for a trajectory whose first error is step ``e``, the wrong
  step is rejected and the chosen step is the first step of a correct continuation after
  ``steps[:e]``. The chosen step is taken, in order, from (1) the rollouts the Monte Carlo
  grader recorded on step ``e - 1`` (``labels[rollout_label].extra["rollouts"]``, the
  first with ``correct`` true), (2) a sibling in the tree — another trajectory's step
  after the same prefix that is itself graded correct, (3) a ``sampler`` when one is given
  (``BackendSampler``: samples continuations through a Backend and checks them with a
  World).

Pairs are de-duplicated (same prefix, chosen and rejected after normalisation), and each
task contributes at most ``max_per_task``: candidates are taken round-robin over the
prefixes they come from (largest value gap first at each), so one busy fork does not fill
a task's quota — that is the per-task balance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from stepsieve._errors import ConfigError, SchemaError
from stepsieve.curate._grading import Grading
from stepsieve.curate._render import render_prompt
from stepsieve.trajectory import Node, Step, TaskTree, Trajectory, normalize_step

__all__ = ["PairOptions", "PairStats", "StepPair", "first_line_split", "make_pairs", "pairs_for_task"]

Sampler = Callable[[Trajectory, list[Step]], "tuple[str, list[str]] | None"]


def first_line_split(text: str) -> list[str]:
    """Default step splitter for recorded rollouts: one step per non-empty line.

    Pass the world's ``split_steps`` (``PairOptions.split_steps``) when steps are not lines.
    """
    return [ln for ln in (x.strip() for x in text.splitlines()) if ln]


@dataclass(frozen=True)
class PairOptions:
    """How pairs are found. ``label`` gives node values (siblings) and is the default rollout label.

    ``consistent``: drop a sibling pair whose chosen step the grading judges incorrect: values
    from outcomes or few rollouts are noisy (a wrong step can still end in a right answer),
    and training toward a step judged wrong is never wanted. A rejected step judged correct
    is kept: it can be right and still lower the chance of success.
    """

    label: str = "mc"
    margin: float = 0.5
    consistent: bool = True
    kinds: tuple[str, ...] = ("sibling", "first_error")
    max_per_task: int = 8
    rollout_label: str | None = None
    split_steps: Callable[[str], list[str]] = field(default=first_line_split, compare=False)

    def __post_init__(self) -> None:
        bad = set(self.kinds) - {"sibling", "first_error"}
        if bad or not self.kinds:
            raise ConfigError(f"pair kinds must be among sibling, first_error, got {sorted(bad) or 'none'}")
        if not 0.0 <= self.margin <= 1.0:
            raise ConfigError(f"margin must lie in [0, 1], got {self.margin}")
        if self.max_per_task < 1:
            raise ConfigError(f"max_per_task must be at least 1, got {self.max_per_task}")


@dataclass(slots=True)
class StepPair:
    """One preference: after ``task`` and ``prefix`` steps, ``chosen`` beats ``rejected``.

    ``chosen_rest`` / ``rejected_rest`` are the steps that followed each in a full solution
    (for Step-DPO's ``full_chosen`` / ``full_rejected``); empty when unknown.
    """

    task_key: str
    task: str | list[dict[str, Any]]
    prefix: list[Step]
    chosen: str
    rejected: str
    source: str  # "sibling" | "first_error"
    chosen_from: str  # "tree" | "rollout" | "sampled"
    chosen_value: float | None = None
    rejected_value: float | None = None
    chosen_rest: list[str] = field(default_factory=list)
    rejected_rest: list[str] = field(default_factory=list)
    trajectory_ids: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        if self.chosen_value is None or self.rejected_value is None:
            return 1.0
        return self.chosen_value - self.rejected_value

    def dedup_key(self) -> tuple[str, ...]:
        return (
            self.task_key,
            *[normalize_step(s.text) for s in self.prefix],
            "\x00",
            normalize_step(self.chosen),
            normalize_step(self.rejected),
        )

    def to_dict(self, sep: str = "\n") -> dict[str, Any]:
        """The record; ``prompt`` is the task and the prefix rendered with ``sep``, the context
        of ``chosen`` / ``rejected`` (TRL's DPOTrainer reads it; without it TRL would take the
        common prefix of chosen and rejected as the prompt)."""
        return {
            "kind": "step_pair",
            "prompt": render_prompt(self.task, self.prefix, sep),
            "task_key": self.task_key,
            "task": self.task,
            "prefix": [_step_dict(s) for s in self.prefix],
            "chosen": self.chosen,
            "rejected": self.rejected,
            "source": self.source,
            "chosen_from": self.chosen_from,
            "chosen_value": self.chosen_value,
            "rejected_value": self.rejected_value,
            "chosen_rest": self.chosen_rest,
            "rejected_rest": self.rejected_rest,
            "trajectory_ids": self.trajectory_ids,
        }

    @staticmethod
    def from_dict(d: Any) -> StepPair:
        """Validate and build a pair (raises SchemaError naming the bad field)."""
        if not isinstance(d, dict) or d.get("kind") != "step_pair":
            raise SchemaError("not a step pair record (expected an object with kind 'step_pair')")
        for f in ("chosen", "rejected", "task_key"):
            if not isinstance(d.get(f), str):
                raise SchemaError(f"step pair field {f!r} must be a string")
        if not isinstance(d.get("task"), (str, list)):
            raise SchemaError("step pair field 'task' must be a string or a list of messages")
        prefix = d.get("prefix", [])
        if not isinstance(prefix, list):
            raise SchemaError("step pair field 'prefix' must be a list of steps")
        return StepPair(
            d["task_key"],
            d["task"],
            [Step.from_dict(s, i) for i, s in enumerate(prefix)],
            d["chosen"],
            d["rejected"],
            str(d.get("source", "")),
            str(d.get("chosen_from", "")),
            d.get("chosen_value"),
            d.get("rejected_value"),
            list(d.get("chosen_rest") or []),
            list(d.get("rejected_rest") or []),
            list(d.get("trajectory_ids") or []),
        )


def _step_dict(s: Step) -> dict[str, Any]:
    d: dict[str, Any] = {"index": s.index, "text": s.text, "kind": s.kind}
    if s.observation is not None:
        d["observation"] = s.observation
    if s.thought is not None:
        d["thought"] = s.thought
    return d


def _bare(s: Step) -> Step:
    """The step without labels and format extras; its machine actions stay (a pair of agent
    steps compares actions). Screenshots do not: pair files carry no media folder."""
    return Step(s.index, s.text, s.kind, s.observation, s.thought, actions=s.actions)


@dataclass(slots=True)
class PairStats:
    """Counts: tasks, candidates found, duplicates removed, pairs cut by the cap, pairs kept."""

    tasks: int = 0
    candidates: int = 0
    duplicates: int = 0
    capped: int = 0
    pairs: int = 0
    no_chosen: int = 0  # first errors with no correct alternative anywhere
    inconsistent: int = 0  # sibling pairs dropped because their values contradict the grading
    by_source: dict[str, int] = field(default_factory=dict)


def pairs_for_task(
    group: list[Trajectory],
    grading: Grading,
    opts: PairOptions,
    *,
    sampler: Sampler | None = None,
    stats: PairStats | None = None,
    tree: TaskTree | None = None,
) -> list[StepPair]:
    """All pairs of one task's trajectories, de-duplicated, balanced and capped."""
    st = stats if stats is not None else PairStats()
    st.tasks += 1
    own_tree = tree is None
    tree = tree or TaskTree.from_trajectories(group, label=opts.label)
    by_id = {t.id: t for t in group}
    # candidates: (prefix node, chosen key, rejected key, pair); keys are normalised texts
    cands: list[tuple[Node, str, str, StepPair]] = []
    if "first_error" in opts.kinds:
        cands.extend(_first_error_pairs(group, tree, by_id, grading, opts, sampler, st))
    if "sibling" in opts.kinds:
        cands.extend(_sibling_pairs(tree, by_id, grading, opts, st))
    st.candidates += len(cands)
    # de-duplicate (same prefix node, same chosen and rejected steps), then round-robin over
    # prefixes, largest value gap first within each
    seen: set[tuple[int, str, str]] = set()
    buckets: dict[int, list[StepPair]] = {}
    for node, ck, rk, p in cands:
        k = (id(node), ck, rk)
        if k in seen:
            st.duplicates += 1
            continue
        seen.add(k)
        b = buckets.get(id(node))
        if b is None:
            buckets[id(node)] = [p]
        else:
            b.append(p)
    queues = [sorted(b, key=_neg_gap) for b in buckets.values()]
    cap = opts.max_per_task
    out: list[StepPair]
    if len(queues) == 1:  # one prefix: the round robin is the queue itself
        out = queues[0][:cap]
    else:
        out = []
        longest = max(map(len, queues), default=0)
        for depth in range(longest):
            for q in queues:
                if depth < len(q):
                    out.append(q[depth])
                    if len(out) == cap:
                        break
            if len(out) == cap:
                break
    for p in out:  # candidates hold the source steps; kept pairs get label-free copies
        p.prefix = [_bare(s) for s in p.prefix]
    st.capped += len(seen) - len(out)
    st.pairs += len(out)
    for p in out:
        st.by_source[p.source] = st.by_source.get(p.source, 0) + 1
    if own_tree:
        tree.clear()  # pairs hold no nodes; free the tree now, not at the next cyclic GC
    return out


def _neg_gap(p: StepPair) -> float:
    return -p.gap


def _rest(by_id: dict[str, Trajectory], node: Node) -> tuple[list[str], str | None]:
    tid, i = node.first_occurrence
    t = by_id[tid]
    return [s.text for s in t.steps[i + 1 :]], tid


def _node_verdict(node: Node, by_id: dict[str, Trajectory], grading: Grading) -> str | None:
    tid, i = node.first_occurrence
    return grading.verdict(by_id[tid].steps[i])


def _sibling_pairs(
    tree: TaskTree, by_id: dict[str, Trajectory], grading: Grading, opts: PairOptions, st: PairStats
) -> Iterator[tuple[Node, str, str, StepPair]]:
    margin = opts.margin
    consistent = opts.consistent
    for fork in tree.forks():
        kids = []
        for c in fork.children.values():
            v = c.value
            if v is not None:
                kids.append((v, c))
        if len(kids) < 2:
            continue
        kids.sort(key=lambda vc: -vc[0])  # stable: equal values keep insertion order
        prefix: list[Step] | None = None
        rests: dict[int, tuple[list[str], str | None]] = {}  # per child: the rest of its solution
        for a_i, (av, a) in enumerate(kids):
            bad_a: bool | None = None
            for bv, b in kids[a_i + 1 :]:
                if av - bv < margin:
                    continue
                if consistent:
                    if bad_a is None:
                        bad_a = _node_verdict(a, by_id, grading) == "incorrect"
                    if bad_a:
                        st.inconsistent += 1
                        continue
                if prefix is None:
                    tid0, _ = kids[0][1].first_occurrence
                    prefix = by_id[tid0].steps[: fork.depth]
                got = rests.get(id(a))
                if got is None:
                    got = rests[id(a)] = _rest(by_id, a)
                a_rest, a_id = got
                got = rests.get(id(b))
                if got is None:
                    got = rests[id(b)] = _rest(by_id, b)
                b_rest, b_id = got
                yield (
                    fork,
                    a.key,
                    b.key,
                    StepPair(
                        tree.key,
                        tree.task,
                        prefix,
                        a.text,
                        b.text,
                        "sibling",
                        "tree",
                        av,
                        bv,
                        a_rest[:],
                        b_rest[:],
                        [x for x in (a_id, b_id) if x],
                    ),
                )


def _first_error_pairs(
    group: list[Trajectory],
    tree: TaskTree,
    by_id: dict[str, Trajectory],
    grading: Grading,
    opts: PairOptions,
    sampler: Sampler | None,
    st: PairStats,
) -> Iterator[tuple[Node, str, str, StepPair]]:
    rollout_label = opts.rollout_label or opts.label
    sampled: dict[int, tuple[str, list[str]] | None] = {}  # one model call per wrong node
    for t in group:
        e = grading.first_error(t)
        if e is None:
            continue
        path = tree.path(t)
        wrong = path[e]
        parent = wrong.parent
        assert parent is not None
        bad_key = wrong.key
        # (text, its key, rest, origin, value, other trajectory id)
        chosen: tuple[str, str, list[str], str, float | None, str | None] | None = None
        # (1) recorded rollouts after the prefix ending at step e-1
        if e > 0:
            lab = t.steps[e - 1].labels.get(rollout_label)
            rollouts = (lab.extra or {}).get("rollouts") if lab is not None else None
            for r in rollouts or ():
                if (
                    not isinstance(r, dict)
                    or r.get("correct") is not True
                    or not isinstance(r.get("text"), str)
                ):
                    continue
                steps = opts.split_steps(r["text"])
                if steps:
                    key = normalize_step(steps[0])
                    if key != bad_key:
                        chosen = (steps[0], key, steps[1:], "rollout", None, None)
                        break
        # (2) a sibling in the tree graded correct
        if chosen is None:
            best: Node | None = None
            for c in parent.children.values():
                if c is wrong:
                    continue
                tid, i = c.first_occurrence
                if grading.verdict(by_id[tid].steps[i]) != "correct":
                    continue
                if best is None or (c.value or 0.0) > (best.value or 0.0):
                    best = c
            if best is not None:
                rest, rest_tid = _rest(by_id, best)
                chosen = (best.text, best.key, rest, "tree", best.value, rest_tid)
        # (3) sampled on request
        if chosen is None and sampler is not None:
            if id(wrong) not in sampled:
                sampled[id(wrong)] = sampler(t, t.steps[:e])
            got = sampled[id(wrong)]
            if got is not None:
                key = normalize_step(got[0])
                if key != bad_key:
                    chosen = (got[0], key, got[1], "sampled", None, None)
        if chosen is None:
            st.no_chosen += 1
            continue
        text, key, rest, origin, value, other = chosen
        yield (
            parent,
            key,
            bad_key,
            StepPair(
                tree.key,
                t.task,
                t.steps[:e],
                text,
                t.steps[e].text,
                "first_error",
                origin,
                value,
                wrong.value,
                rest,
                [s.text for s in t.steps[e + 1 :]],
                [t.id] + ([other] if other else []),
            ),
        )


def make_pairs(
    groups: Iterable[list[Trajectory]],
    grading: Grading,
    opts: PairOptions,
    *,
    sampler: Sampler | None = None,
    stats: PairStats | None = None,
) -> Iterator[StepPair]:
    """Stream pairs over task groups (see ``group_by_task``)."""
    st = stats if stats is not None else PairStats()
    for g in groups:
        yield from pairs_for_task(g, grading, opts, sampler=sampler, stats=st)
