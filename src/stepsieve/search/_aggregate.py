"""The one aggregation of step scores into a trajectory score, used by every search.

``min``: a solution is as good as its weakest step (the usual PRM choice); ``prod``: the
probability that every step is right, if the steps were independent; ``last``: the score of
the final step, which for a prefix-trained PRM already judges the whole solution; ``mean``.
(search-and-learn documents these but hard-codes ``last`` in one path; here every caller
passes the name through to this function.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from stepsieve._errors import ConfigError

__all__ = ["AGGREGATIONS", "Aggregation", "aggregate"]

Aggregation = Literal["min", "prod", "last", "mean"]
AGGREGATIONS: tuple[str, ...] = ("min", "prod", "last", "mean")


def aggregate(scores: Sequence[float], how: str = "min") -> float:
    """Aggregate per-step scores; an empty solution scores 0 (it cannot be preferred)."""
    if how not in AGGREGATIONS:
        raise ConfigError(f"unknown aggregation {how!r}; choose one of {', '.join(AGGREGATIONS)}")
    if not scores:
        return 0.0
    if how == "min":
        return float(min(scores))
    if how == "prod":
        return float(math.prod(scores))
    if how == "last":
        return float(scores[-1])
    return float(sum(scores) / len(scores))
