"""Streaming summary statistics of a trajectory file (what ``stepsieve inspect`` shows).

One pass, bounded memory: step lengths are kept as a histogram of exact lengths (distinct
lengths are few), so percentiles are exact without holding a million numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from stepsieve.trajectory._record import Trajectory

__all__ = ["LabelStats", "Summary", "summarize"]


@dataclass
class LabelStats:
    """One grader's labels over a file."""

    steps: int = 0  # steps carrying this label
    verdicts: Counter[str] = field(default_factory=Counter)  # correct/incorrect/neutral/undecided
    score_sum: float = 0.0
    scored: int = 0
    first_error: Counter[str] = field(default_factory=Counter)  # "-1", "0", "1", ... "undecided"

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


@dataclass
class Summary:
    """Counts and distributions of one stream of trajectories."""

    trajectories: int = 0
    steps: int = 0
    min_steps: int | None = None
    max_steps: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # correct/incorrect/unknown
    step_chars: Counter[int] = field(default_factory=Counter)
    labels: dict[str, LabelStats] = field(default_factory=dict)
    # Agent logs: calls by tool name (computer-use actions by type), results, images, and the
    # events an importer kept without knowing them (meta["unknown_events"]).
    actions: Counter[str] = field(default_factory=Counter)
    observations: int = 0
    images: int = 0
    unknown_events: int = 0

    def add(self, t: Trajectory) -> None:
        n = len(t.steps)
        self.trajectories += 1
        self.steps += n
        self.min_steps = n if self.min_steps is None else min(self.min_steps, n)
        self.max_steps = max(self.max_steps, n)
        c = t.outcome.correct
        self.outcomes["unknown" if c is None else "correct" if c else "incorrect"] += 1
        kinds = self.kinds
        chars = self.step_chars
        unknown = t.meta.get("unknown_events")
        if isinstance(unknown, list):
            self.unknown_events += len(unknown)
        for s in t.steps:
            kinds[s.kind] += 1
            chars[len(s.text)] += 1
            for a in s.actions:
                self.actions[(a.name or "?") if a.type == "tool" else a.type] += 1
            if s.observation is not None:
                self.observations += 1
            self.images += len(s.images)
            if s.meta:
                links = s.meta.get("image_links")
                if isinstance(links, list):
                    self.images += len(links)
            for name, lab in s.labels.items():
                st = self.labels.get(name)
                if st is None:
                    st = self.labels[name] = LabelStats()
                st.steps += 1
                st.verdicts[lab.verdict or "undecided"] += 1
                if lab.score is not None:
                    st.score_sum += lab.score
                    st.scored += 1
        for name in t.label_names():
            fe = t.first_error(name)
            self.labels[name].first_error["undecided" if fe is None else str(fe)] += 1

    def step_length(self, q: float) -> int | None:
        """The q-quantile (0..1) of step length in characters (nearest rank)."""
        if not self.steps:
            return None
        rank = max(1, round(q * self.steps))
        seen = 0
        for length in sorted(self.step_chars):
            seen += self.step_chars[length]
            if seen >= rank:
                return length
        return max(self.step_chars)  # pragma: no cover - rank <= steps always

    def mean_step_length(self) -> float | None:
        if not self.steps:
            return None
        return sum(k * v for k, v in self.step_chars.items()) / self.steps

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (``stepsieve inspect --json``)."""
        return {
            "trajectories": self.trajectories,
            "steps": self.steps,
            "steps_per_trajectory": {
                "mean": self.steps / self.trajectories if self.trajectories else None,
                "min": self.min_steps,
                "max": self.max_steps,
            },
            "step_chars": {
                "mean": self.mean_step_length(),
                "p50": self.step_length(0.5),
                "p95": self.step_length(0.95),
                "max": max(self.step_chars) if self.step_chars else None,
            },
            "kinds": dict(self.kinds),
            "outcomes": dict(self.outcomes),
            "actions": dict(self.actions.most_common()),
            "observations": self.observations,
            "images": self.images,
            "unknown_events": self.unknown_events,
            "labels": {
                name: {
                    "steps": st.steps,
                    "verdicts": dict(st.verdicts),
                    "mean_score": st.mean_score,
                    "first_error": dict(sorted(st.first_error.items(), key=_fe_key)),
                }
                for name, st in self.labels.items()
            },
        }


def _fe_key(item: tuple[str, int]) -> tuple[int, int]:
    k = item[0]
    return (1, 0) if k == "undecided" else (0, int(k))


def summarize(trajectories: Any) -> Summary:
    """Summarise an iterable of Trajectories in one streaming pass."""
    s = Summary()
    for t in trajectories:
        s.add(t)
    return s
