"""Reading predictions out of labels: per-step verdicts and the first-error index.

A label predicts through its verdicts, or — for score-valued labels evaluated with a
threshold — through ``score < threshold`` meaning "incorrect". Two rules say what a step
without a decision (verdict None, or no score) means, because graders differ on purpose:

- ``none_as="pass"`` (default): an undecided step is passed over, as if not flagged. The
  first flagged step is the predicted first error; -1 when nothing is flagged. A trajectory
  where *no* step is decided has no prediction (None), which scores as a miss. This is how
  a PRM or the ``rules`` grader (which abstains on steps with nothing checkable) is read.
- ``none_as="strict"``: ``Trajectory.first_error`` semantics — an undecided step before any
  error means no prediction.

``neutral`` counts as "not an error" everywhere (PRM800K's rating 0).
"""

from __future__ import annotations

from typing import Literal

from stepsieve.trajectory import Trajectory

__all__ = ["NoneAs", "first_error_of", "predicted_first_error", "step_predictions"]

NoneAs = Literal["pass", "strict"]


def step_predictions(t: Trajectory, label: str, threshold: float | None = None) -> list[bool | None]:
    """Per step: True = predicted correct, False = predicted wrong, None = undecided.

    With ``threshold`` the label's score decides (``score >= threshold`` is correct);
    otherwise its verdict does.
    """
    out: list[bool | None] = []
    for s in t.steps:
        lab = s.labels.get(label)
        if lab is None:
            out.append(None)
        elif threshold is not None:
            out.append(None if lab.score is None else lab.score >= threshold)
        elif lab.verdict is None:
            out.append(None)
        else:
            out.append(lab.verdict != "incorrect")
    return out


def first_error_of(preds: list[bool | None], none_as: NoneAs = "pass") -> int | None:
    """First False in per-step predictions under the ``none_as`` rule (see the module doc)."""
    decided = False
    for i, p in enumerate(preds):
        if p is None:
            if none_as == "strict":
                return None
            continue
        decided = True
        if p is False:
            return i
    return -1 if decided else None


def predicted_first_error(
    t: Trajectory, label: str, threshold: float | None = None, none_as: NoneAs = "pass"
) -> int | None:
    """The 0-based first wrong step a label predicts, -1 for "no error", None for no prediction."""
    return first_error_of(step_predictions(t, label, threshold), none_as)
