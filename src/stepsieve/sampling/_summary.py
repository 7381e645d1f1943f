"""Summary of sampled trajectories against the ``truth`` label: accuracy, first-error
histogram, error kinds. Streams, so it works on files of any size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from stepsieve.trajectory import Trajectory

__all__ = ["summarize"]


def summarize(trajectories: Iterable[Trajectory], label: str = "truth") -> dict[str, Any]:
    """``{"n", "accuracy", "steps", "wrong_steps", "with_error", "first_error_hist",
    "error_kinds"}``; the histogram maps the 0-based first-error step ("none": no error)."""
    n = correct = steps = wrong = with_error = 0
    hist: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for t in trajectories:
        n += 1
        correct += bool(t.outcome.correct)
        steps += len(t.steps)
        wrong += sum(1 for s in t.steps if (lab := s.labels.get(label)) is not None and lab.verdict == "incorrect")
        fe = t.first_error(label)
        if fe is None or fe < 0:
            hist["none" if fe is not None else "undecided"] += 1
            continue
        with_error += 1
        hist[str(fe)] += 1
        lab = t.steps[fe].labels.get(label)
        kind = (lab.extra or {}).get("kind") if lab is not None else None
        kinds[kind or "unknown"] += 1
    order = sorted((k for k in hist if k.isdigit()), key=int) + [k for k in ("none", "undecided") if k in hist]
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "with_error": with_error / n if n else 0.0,
        "steps": steps,
        "wrong_steps": wrong,  # steps labelled incorrect (a StepTruth world labels after the first error too)
        "first_error_hist": {k: hist[k] for k in order},
        "error_kinds": dict(kinds.most_common()),
    }
