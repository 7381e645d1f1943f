"""Per-step training targets of the vision StepRM, from ``mc`` labels only (never truth).

``mc`` (every-step mode, ``root=true``) gives the value Q_j of every prefix: the share of the
policy's rollouts from after step j that succeed, and Q_-1, the value of the empty prefix
(``meta["mc_root"]``). Three ways to turn that into targets (``--targets``):

- ``verdict`` (the default): the mc verdict (correct when some rollout succeeds), steps
  after the first incorrect one incorrect; what the text StepRM learns.
- ``value``: the soft value Q_j itself.
- ``advantage``: how much of the success chance the action kept,
  ``min(1, Q_j / Q_{j-1})``, rollout values smoothed towards 1/2 by one pseudo-rollout each
  side ((k + 1) / (N + 2): 0 of 4 is 1/6, not a certain dead end), the value of a prefix that
  ends the episode exact (its outcome). This is the process advantage of Setlur et al. 2024
  (Q after minus Q before), scaled by Q before: a weak policy that fails from a still-good
  state has a low Q before *and* after the step, so the step keeps its share and is not
  blamed; the action that destroys the chance is (a ``done()`` on an unfinished task: Q
  after is exactly 0).

Measured effect (training split, against the truth the model never sees): docs/steprm.md.
"""

from __future__ import annotations

from typing import Any

from stepsieve._errors import DataError
from stepsieve.trajectory import Trajectory, after_error_verdicts

__all__ = ["TARGETS", "step_targets_from_mc"]

TARGETS = ("advantage", "value", "verdict")


def _value(extra: dict[str, Any] | None, score: float | None) -> float | None:
    """The value of an mc label: exact for a prefix that ends the episode (``from: outcome``),
    else k/N smoothed by one pseudo-rollout each side, (k + 1) / (N + 2); None when absent."""
    if extra and "n" in extra and "n_correct" in extra:
        n, k = int(extra["n"]), int(extra["n_correct"])
        if extra.get("from") == "outcome":
            return k / max(1, n)
        return (k + 1) / (n + 2)
    return None if score is None else float(score)


def step_targets_from_mc(t: Trajectory, label: str, targets: str) -> list[float | None]:
    """One target per step (None: not trained on); see the module docstring."""
    if targets not in TARGETS:
        raise DataError(f"unknown vision StepRM targets {targets!r}: {', '.join(TARGETS)}")
    labs = [s.labels.get(label) for s in t.steps]
    if label == "truth":
        raise DataError("the vision StepRM learns from a grader's labels, never from truth", trajectory=t.id)
    if targets == "verdict":
        verdicts = after_error_verdicts([None if x is None else x.verdict for x in labs], "incorrect")
        return [None if v is None else float(v == "correct") for v in verdicts]
    if targets == "value":
        return [None if x is None or x.score is None else min(1.0, max(0.0, float(x.score))) for x in labs]
    root = (t.meta or {}).get(f"{label}_root")
    prev = _value(root, None) if isinstance(root, dict) else None
    if prev is None and any(x is not None for x in labs):
        raise DataError(f"advantage targets need the value of the empty prefix: grade with "
                        f"'{label}' root=true (meta.{label}_root is missing)", trajectory=t.id)
    out: list[float | None] = []
    for x in labs:
        cur = None if x is None else _value(x.extra, x.score)
        out.append(None if cur is None or prev is None else min(1.0, cur / max(prev, 1e-6)))
        if cur is not None:
            prev = cur
    return out
