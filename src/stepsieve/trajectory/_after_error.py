"""One rule for the steps after a trajectory's first error, shared by every training set.

A grader that stops at the first error (first-error search, a judge told to, PRM800K's
human labels) leaves the steps after it undecided. Whether those steps are training
targets must not depend on which product is built from the labels, so ``train-prm``, the
``trl-stepwise`` export and the other exports read this one rule:

- ``incorrect`` (the default everywhere): an undecided step after the first error is an
  incorrect target — a prefix that contains an error is wrong, which is what a step reward
  model is asked to score.
- ``skip``: undecided steps after the first error are not trained on (for TRL stepwise
  rows, which hold a contiguous list of steps, the row ends before the first of them).

Steps after the error that the grader did decide keep their own verdict under both rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from stepsieve._errors import ConfigError

__all__ = ["AFTER_ERROR_RULES", "DEFAULT_AFTER_ERROR", "AfterError", "after_error_verdicts", "check_after_error"]

AfterError = Literal["incorrect", "skip"]
AFTER_ERROR_RULES: tuple[str, ...] = ("incorrect", "skip")
DEFAULT_AFTER_ERROR: AfterError = "incorrect"


def check_after_error(value: str) -> AfterError:
    """``value`` when it names a rule (ConfigError naming the rules otherwise)."""
    if value not in AFTER_ERROR_RULES:
        raise ConfigError(f"after_error must be one of {', '.join(AFTER_ERROR_RULES)}, got {value!r}")
    return value  # type: ignore[return-value]


def after_error_verdicts(verdicts: Sequence[str | None], rule: str) -> list[str | None]:
    """``verdicts`` with the rule applied: under ``incorrect`` every undecided (None) verdict
    after the first ``incorrect`` one becomes ``incorrect``; under ``skip`` they stay None."""
    out = list(verdicts)
    if rule == "skip":
        return out
    seen = False
    for i, v in enumerate(out):
        if v == "incorrect":
            seen = True
        elif v is None and seen:
            out[i] = "incorrect"
    return out
