"""Which steps count as correct: one label, read by verdict or by a score threshold.

Every curation product asks the same question of a step — good, bad, neutral or unknown —
and the answer must not depend on which product asks, so it lives here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from stepsieve._errors import ConfigError
from stepsieve.trajectory import Step, Trajectory

__all__ = ["Grading"]


@dataclass(frozen=True, slots=True)
class Grading:
    """Read step verdicts from label ``label``.

    With ``threshold`` None the label's own ``verdict`` is used. With a threshold, the
    ``score`` decides (``score >= threshold`` is correct, below is incorrect) and a step
    whose score is None is unscored, whatever its verdict says.
    """

    label: str = "truth"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if not self.label:
            raise ConfigError("a label name is required")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must lie in [0, 1], got {self.threshold}")

    def verdict(self, step: Step) -> str | None:
        """``correct`` / ``incorrect`` / ``neutral``, or None when the step is unscored."""
        lab = step.labels.get(self.label)
        if lab is None:
            return None
        if self.threshold is None:
            return lab.verdict
        if lab.score is None:
            return None
        return "correct" if lab.score >= self.threshold else "incorrect"

    def verdicts(self, t: Trajectory) -> list[str | None]:
        """``verdict`` of every step, in one loop (what curation and pairs call per record)."""
        name = self.label
        thr = self.threshold
        if thr is None:
            return [None if (lab := s.labels.get(name)) is None else lab.verdict for s in t.steps]
        return [
            None
            if (lab := s.labels.get(name)) is None or (score := lab.score) is None
            else "correct"
            if score >= thr
            else "incorrect"
            for s in t.steps
        ]

    def first_error(self, t: Trajectory) -> int | None:
        """Index of the first step judged incorrect, or None when no step is.

        Unlike ``Trajectory.first_error`` an unscored step before the error does not hide
        it: curation decides separately what to do with unscored steps.
        """
        name = self.label
        thr = self.threshold
        for i, s in enumerate(t.steps):
            lab = s.labels.get(name)
            if lab is None:
                continue
            if thr is None:
                if lab.verdict == "incorrect":
                    return i
            elif lab.score is not None and lab.score < thr:
                return i
        return None
