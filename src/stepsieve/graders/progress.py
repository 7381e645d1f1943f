"""The ``progress`` grader: per-step advantage from Monte Carlo values (PAV, SPA-RL).

A step's progress is how much it moved the chance of success:
``A_i = V(prefix ending at step i) - V(prefix ending at step i-1)``, with V read from an
``mc`` label's scores (MC value of the prefix ending at the step, inclusive).

V of the empty prefix (needed for step 0) comes, in order, from the root rollouts the mc
grader recorded (``meta["<mc label>_root"] = {"n", "n_correct"}``, written by
``mc --root``), else from ``root_value`` if given, else step 0 gets no advantage (None).
A step whose value or whose predecessor's value was not probed (first-error mode leaves
most steps unprobed) gets None: use ``mc --mode every-step`` for dense advantages.

Verdicts: ``A < -margin`` incorrect (the step lost ground), ``A > margin`` correct,
otherwise neutral. Scores are advantages: ``extra["kind"] == "advantage"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stepsieve._errors import GraderError
from stepsieve._registry import check_options
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.trajectory import Cost, Label, Trajectory, Verdict

__all__ = ["ProgressGrader", "ProgressOptions", "root_value"]


@dataclass(frozen=True)
class ProgressOptions:
    """The ``progress`` grader's options."""

    source: str = "mc"  # the mc label to read prefix values from
    root: float | None = None  # V(empty prefix) when the mc label recorded no root rollouts (CLI: --root-value)
    margin: float = 0.0  # an advantage within +-margin is neutral

    def __post_init__(self) -> None:
        check_options(self, "grader 'progress'")


def root_value(t: Trajectory, source: str) -> float | None:
    """V(empty prefix) from the root rollouts an mc grader recorded, or None."""
    rec = t.meta.get(f"{source}_root")
    if isinstance(rec, dict) and rec.get("n"):
        return float(rec["n_correct"]) / float(rec["n"])
    return None


class ProgressGrader:
    """Advantages ``V(prefix+step) - V(prefix)`` from an mc label (see the module docstring)."""

    Options = ProgressOptions

    def __init__(self, options: ProgressOptions | None = None, *, name: str = "progress", **kw: Any) -> None:
        o = self.options = with_options(ProgressOptions, options, kw, "grader 'progress'")
        self.name = name
        self.source, self.root, self.margin = o.source, o.root, o.margin
        self.config: dict[str, Any] = hashed_config(o, always=("source", "root", "margin"))
        self._ref = grader_ref(name, self.config)

    @classmethod
    def from_options(cls, options: ProgressOptions, ctx: GradeContext) -> ProgressGrader:
        return cls(options, name=ctx.label or "progress")

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        for t in trajectories:
            if not any(self.source in s.labels for s in t.steps):
                raise GraderError(f"trajectory {t.id}: progress needs the mc label {self.source!r}, which it lacks")
            prev = root_value(t, self.source)
            if prev is None:
                prev = self.root
            for s in t.steps:
                lab = s.labels.get(self.source)
                v = lab.score if lab is not None else None
                adv = None if v is None or prev is None else v - prev
                verdict: Verdict | None
                if adv is None:
                    verdict = None
                elif adv < -self.margin:
                    verdict = "incorrect"
                elif adv > self.margin:
                    verdict = "correct"
                else:
                    verdict = "neutral"
                s.labels[self.name] = Label(
                    adv, verdict, None, Cost(), self._ref, {"kind": "advantage", "v_prev": prev, "v": v}
                )
                prev = v
            yield t
