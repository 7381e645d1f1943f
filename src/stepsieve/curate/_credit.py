"""Per-step credit for RL: progress, fork-relative and mixed advantages.

All three read the task's ``TaskTree`` (node values V from the value label, e.g. ``mc``;
see ``stepsieve.trajectory.TaskTree``):

- ``progress`` (PAV, SPA-RL): A_i = V(prefix ending at step i) − V(prefix ending at step
  i − 1); the empty prefix's value is the root value: the mc grader's root probe
  (``meta["<label>_root"]``) when recorded, else the visit-weighted mean of step 0's values.
- ``fork`` (PORTool, SLATE): A_i = V(node_i) − the visit-weighted mean value of all the
  children of its parent, itself included — how much better this branch did than the
  alternatives actually taken from the same prefix. A step without siblings gets 0.
- ``mixed``: α · z_outcome + (1 − α) · p_i / rms_p, where
  z_outcome = (R − mean R) / std R over the task's trajectories (GRPO group
  normalisation; 0 when every trajectory has the same reward), R = ``outcome.reward`` or,
  when absent, 1.0/0.0 from ``outcome.correct``; p_i is the process advantage
  (``process``: progress or fork) and rms_p the root mean square of p over all the task's
  steps. The process term is scaled but not re-centred, because ΔV already is an advantage:
  subtracting its mean would flip the sign of steps that made real progress in a task where
  most steps do. A missing p_i (no value) counts as 0; a missing R makes z_outcome 0.

The result is written as a step label (``name``, default ``advantage``): ``score`` is the
chosen ``method``'s value, ``extra`` holds ``kind="advantage"`` and every component.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stepsieve._errors import ConfigError
from stepsieve.graders._protocol import grader_ref
from stepsieve.trajectory import Label, Node, TaskTree, Trajectory

__all__ = ["CreditOptions", "credit", "credit_task"]


@dataclass(frozen=True, slots=True)
class CreditOptions:
    """label: the value label; method: which advantage is the score; alpha: outcome weight."""

    label: str = "mc"
    name: str = "advantage"
    method: str = "mixed"
    process: str = "progress"
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in ("progress", "fork", "mixed"):
            raise ConfigError(f"method must be progress, fork or mixed, got {self.method!r}")
        if self.process not in ("progress", "fork"):
            raise ConfigError(f"process must be progress or fork, got {self.process!r}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.name == self.label:
            raise ConfigError("the advantage label must not overwrite the value label")


def _reward(t: Trajectory) -> float | None:
    if t.outcome.reward is not None:
        return t.outcome.reward
    if t.outcome.correct is not None:
        return 1.0 if t.outcome.correct else 0.0
    return None


def _fork_baseline(node: Node) -> float | None:
    parent = node.parent
    assert parent is not None
    num = den = 0.0
    for c in parent.children.values():
        v = c.value
        if v is not None:
            num += v * c.visits
            den += c.visits
    return num / den if den else None


def credit_task(group: list[Trajectory], opts: CreditOptions | None = None) -> list[Trajectory]:
    """Write the advantage label on every step of one task's trajectories (in place)."""
    opts = opts or CreditOptions()
    tree = TaskTree.from_trajectories(group, label=opts.label)
    ref = grader_ref("credit", {f: getattr(opts, f) for f in opts.__dataclass_fields__})
    rewards = [_reward(t) for t in group]
    known = [r for r in rewards if r is not None]
    mean_r = sum(known) / len(known) if known else 0.0
    std_r = math.sqrt(sum((r - mean_r) ** 2 for r in known) / len(known)) if known else 0.0
    root_v = tree.root.value
    per_traj: list[list[tuple[float | None, float | None, float | None]]] = []
    sq = 0.0
    n_p = 0
    for t in group:
        rows = []
        prev = root_v
        for node in tree.path(t):
            v = node.value
            prog = v - prev if v is not None and prev is not None else None
            base = _fork_baseline(node)
            fork = v - base if v is not None and base is not None else None
            p = prog if opts.process == "progress" else fork
            if p is not None:
                sq += p * p
                n_p += 1
            rows.append((v, prog, fork))
            prev = v
        per_traj.append(rows)
    rms = math.sqrt(sq / n_p) if n_p else 0.0
    for t, r, rows in zip(group, rewards, per_traj):
        z = (r - mean_r) / std_r if (r is not None and std_r > 0) else 0.0
        for s, (v, prog, fork) in zip(t.steps, rows):
            p = prog if opts.process == "progress" else fork
            p_term = (p / rms) if (p is not None and rms > 0) else 0.0
            mixed = opts.alpha * z + (1.0 - opts.alpha) * p_term
            score = {"progress": prog, "fork": fork, "mixed": mixed}[opts.method]
            s.labels[opts.name] = Label(
                score,
                None,
                grader=ref,
                extra={
                    "kind": "advantage",
                    "method": opts.method,
                    "value": v,
                    "progress": prog,
                    "fork": fork,
                    "outcome_z": z,
                    "mixed": mixed,
                },
            )
    tree.clear()  # labels hold no nodes; free the tree now, not at the next cyclic GC
    return group


def credit(groups: Iterable[list[Trajectory]], opts: CreditOptions | None = None) -> Iterator[Trajectory]:
    """Stream advantages over task groups (see ``group_by_task``)."""
    for g in groups:
        yield from credit_task(g, opts)
