"""Choosing one answer among N sampled solutions: majority vote, PRM best-of-N, and
PRM-weighted majority vote. Pure functions over :class:`Candidate` lists (no models)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stepsieve.search._aggregate import aggregate

__all__ = ["SELECTORS", "Candidate", "best_of_n", "majority_vote", "select", "weighted_majority"]


@dataclass(slots=True)
class Candidate:
    """One sampled solution: its steps, final answer, PRM step scores and generated tokens."""

    steps: list[str]
    answer: str | None
    step_scores: list[float] = field(default_factory=list)
    tokens: int = 0
    correct: bool | None = None


def majority_vote(cands: Sequence[Candidate]) -> str | None:
    """The most frequent stated answer (ties: the one seen first); None if none states one."""
    counts: dict[str, int] = {}
    for c in cands:
        if c.answer is not None:
            counts[c.answer] = counts.get(c.answer, 0) + 1
    return max(counts, key=counts.__getitem__) if counts else None


def best_of_n(cands: Sequence[Candidate], how: str = "min") -> str | None:
    """The answer of the candidate with the highest aggregated PRM score."""
    stated = [c for c in cands if c.answer is not None]
    if not stated:
        return None
    return max(stated, key=lambda c: aggregate(c.step_scores, how)).answer


def weighted_majority(cands: Sequence[Candidate], how: str = "min") -> str | None:
    """The answer whose candidates' aggregated PRM scores sum highest (Math-Shepherd's
    weighted self-consistency): frequent answers win unless the PRM distrusts them."""
    weight: dict[str, float] = {}
    for c in cands:
        if c.answer is not None:
            weight[c.answer] = weight.get(c.answer, 0.0) + aggregate(c.step_scores, how)
    return max(weight, key=weight.__getitem__) if weight else None


SELECTORS = {
    "majority": lambda cands, how: majority_vote(cands),
    "best_of_n": best_of_n,
    "weighted_majority": weighted_majority,
}


def select(method: str, cands: Sequence[Candidate], how: str = "min") -> str | None:
    """Dispatch by name: ``majority``, ``best_of_n`` or ``weighted_majority``."""
    from stepsieve._errors import ConfigError

    if method not in SELECTORS:
        raise ConfigError(f"unknown selection {method!r}; choose one of {', '.join(SELECTORS)}")
    return SELECTORS[method](cands, how)
