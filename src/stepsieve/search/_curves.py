"""Accuracy-vs-N curves: how each selection method improves as more samples are drawn.

From a pool of M samples per task, for each N the curve averages accuracy over ``repeats``
random subsets of size N (without replacement, seeded), the standard way to draw smooth
curves from one set of samples instead of sampling anew for every N.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from stepsieve._errors import ConfigError
from stepsieve.search._select import Candidate, select

__all__ = ["accuracy_vs_n", "answer_correct"]


def answer_correct(pool: Sequence[Candidate], answer: str | None) -> bool:
    """Whether ``answer`` is right, read from any candidate that stated it."""
    if answer is None:
        return False
    return any(c.correct for c in pool if c.answer == answer)


def accuracy_vs_n(
    pools: Sequence[Sequence[Candidate]],
    ns: Sequence[int],
    methods: Sequence[str],
    *,
    aggregations: Sequence[str] = ("min",),
    repeats: int = 20,
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """``{method_name: {N: accuracy}}``; PRM methods are named ``method:aggregation``.

    ``oracle`` (any of the N correct, i.e. pass@N) is always included as the ceiling.
    """
    if not pools:
        raise ConfigError("accuracy_vs_n needs at least one task")
    smallest = min(len(p) for p in pools)
    if max(ns) > smallest:
        raise ConfigError(f"N={max(ns)} exceeds the {smallest} samples drawn for some task")
    names: list[tuple[str, str, str]] = []
    for m in methods:
        if m == "majority":
            names.append(("majority", m, "min"))
        else:
            names.extend((f"{m}:{a}", m, a) for a in aggregations)
    curves: dict[str, dict[int, float]] = {name: {} for name, _, _ in names}
    curves["oracle"] = {}
    rng = random.Random(seed)
    for n in ns:
        hits = dict.fromkeys(curves, 0)
        reps = 1 if n == smallest else repeats
        for _ in range(reps):
            for pool in pools:
                sub = rng.sample(list(pool), n)
                for name, m, agg in names:
                    hits[name] += answer_correct(pool, select(m, sub, agg))
                hits["oracle"] += any(c.correct for c in sub)
        for name, curve in curves.items():
            curve[n] = hits[name] / (reps * len(pools))
    return curves
