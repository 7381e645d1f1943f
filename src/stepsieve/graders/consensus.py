"""The ``consensus`` grader: agreement of two graders on the first error.

Qwen's "Lessons of developing PRMs" keeps an MC-labelled trajectory only where an LLM judge
agrees with MC on where the first error is; that filter, not more rollouts, is what made
their labels clean. Two modes:

- ``filter``: yield only trajectories whose two first-error positions agree (both -1, or
  both the same step); others are dropped (the job engine lists them in
  ``OUT.dropped.jsonl``). The label marks steps before the agreed error correct, the error
  incorrect, later steps None.
- ``label``: yield every trajectory; a step's verdict is the shared verdict where both
  decided the same, else None; ``extra["agree"]`` says whether the first errors agree.

Either input is a label already on the trajectories (a name) or a Grader run first.
``keep_rate`` reports kept / seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from stepsieve._errors import ConfigError, GraderError
from stepsieve._registry import check_options
from stepsieve.graders._plugin import GradeContext
from stepsieve.graders._protocol import Grader, config_hash, grader_ref
from stepsieve.trajectory import Cost, Label, Trajectory, Verdict

__all__ = ["ConsensusGrader", "ConsensusOptions"]


@dataclass(frozen=True)
class ConsensusOptions:
    """The ``consensus`` grader's options (in code, either label may be a Grader run first)."""

    first: str = "mc"  # the first label
    second: str = "judge"  # the second label
    mode: Literal["filter", "label"] = "filter"  # filter: keep agreeing trajectories; label: label all

    def __post_init__(self) -> None:
        check_options(self, "grader 'consensus'")


def _spec(g: str | Grader) -> Any:
    return g if isinstance(g, str) else {"grader": g.name, "hash": config_hash(g.name, g.config)}


def _name(g: str | Grader) -> str:
    return g if isinstance(g, str) else g.name


def _first_error(t: Trajectory, label: str) -> int | None:
    """The first step the label calls incorrect, passing over undecided steps; -1 when it
    decides some steps and flags none; None when it decides none (evaluate's "pass" rule,
    read here without importing the layer above)."""
    decided = False
    for i, s in enumerate(t.steps):
        lab = s.labels.get(label)
        if lab is not None and lab.verdict is not None:
            if lab.verdict == "incorrect":
                return i
            decided = True
    return -1 if decided else None


class ConsensusGrader:
    """Combine two labels by agreement on the first error (see the module docstring)."""

    Options = ConsensusOptions

    def __init__(
        self,
        first: str | Grader = "mc",
        second: str | Grader = "judge",
        mode: Literal["filter", "label"] = "filter",
        name: str = "consensus",
    ) -> None:
        ConsensusOptions(_name(first), _name(second), mode)  # checks the mode
        if _name(first) == _name(second):
            raise ConfigError("consensus needs two different labels")
        self.name = name
        self.first, self.second = first, second
        self.config: dict[str, Any] = {"first": _spec(first), "second": _spec(second), "mode": mode}
        self._ref = grader_ref(name, self.config)
        self.seen = 0
        self.kept = 0

    @classmethod
    def from_options(cls, options: ConsensusOptions, ctx: GradeContext) -> ConsensusGrader:
        return cls(options.first, options.second, options.mode, name=ctx.label or "consensus")

    @property
    def keep_rate(self) -> float | None:
        """Share of the trajectories seen whose first errors agree."""
        return self.kept / self.seen if self.seen else None

    def _inputs(self, trajectories: Iterable[Trajectory]) -> Iterable[Trajectory]:
        for g in (self.first, self.second):
            if not isinstance(g, str):
                trajectories = g.grade(trajectories)
        return trajectories

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        a, b = _name(self.first), _name(self.second)
        for t in self._inputs(trajectories):
            for lab in (a, b):
                if not any(lab in s.labels for s in t.steps):
                    raise GraderError(f"trajectory {t.id}: consensus needs the label {lab!r}, which it lacks")
            fa, fb = _first_error(t, a), _first_error(t, b)
            agree = fa is not None and fa == fb
            self.seen += 1
            self.kept += agree
            if self.config["mode"] == "filter":
                if not agree:
                    continue
                self._label_agreed(t, fa, a, b)
            else:
                self._label_by_agreement(t, a, b, agree, fa, fb)
            yield t

    def _score(self, t: Trajectory, i: int, a: str, b: str) -> float | None:
        labs = (t.steps[i].labels.get(a), t.steps[i].labels.get(b))
        xs = [lab.score for lab in labs if lab and lab.score is not None]
        return sum(xs) / len(xs) if xs else None

    def _label_agreed(self, t: Trajectory, fe: int | None, a: str, b: str) -> None:
        for i, s in enumerate(t.steps):
            v: Verdict | None = (
                "correct" if fe == -1 or (fe is not None and i < fe) else ("incorrect" if i == fe else None)
            )
            s.labels[self.name] = Label(self._score(t, i, a, b), v, None, Cost(), self._ref, {"first_error": fe})

    def _label_by_agreement(self, t: Trajectory, a: str, b: str, agree: bool, fa: Any, fb: Any) -> None:
        for i, s in enumerate(t.steps):
            la, lb = s.labels.get(a), s.labels.get(b)
            va = la.verdict if la else None
            vb = lb.verdict if lb else None
            v = va if va is not None and va == vb else None
            extra = {"agree": agree, "first_errors": [fa, fb]}
            s.labels[self.name] = Label(self._score(t, i, a, b), v, None, Cost(), self._ref, extra)
