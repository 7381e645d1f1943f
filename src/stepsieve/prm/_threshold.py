"""From step scores to a first-error prediction, and the threshold that makes it best.

The ``prm`` grader calls a step incorrect when P(correct) falls below a threshold; the
trajectory's predicted first error is then the first such step. Training picks the
threshold on its dev split against the *training label* (never against truth), with the
ProcessBench F1: the harmonic mean of accuracy on erroneous and on all-correct trajectories.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["choose_threshold", "first_error_at", "processbench_f1"]


def first_error_at(scores: Sequence[float], threshold: float) -> int:
    """Index of the first step scored below ``threshold``; -1 when none is."""
    for i, s in enumerate(scores):
        if s < threshold:
            return i
    return -1


def processbench_f1(predicted: Sequence[int], reference: Sequence[int]) -> float:
    """Harmonic mean of exact-match accuracy on erroneous (ref >= 0) and correct (ref == -1) items."""
    err = [p == r for p, r in zip(predicted, reference) if r >= 0]
    ok = [p == -1 for p, r in zip(predicted, reference) if r < 0]
    acc_err = sum(err) / len(err) if err else 0.0
    acc_ok = sum(ok) / len(ok) if ok else 0.0
    return 2 * acc_err * acc_ok / (acc_err + acc_ok) if acc_err + acc_ok else 0.0


def choose_threshold(
    scores: Sequence[Sequence[float]], reference: Sequence[int], grid: Sequence[float] | None = None
) -> tuple[float, float]:
    """The threshold (from ``grid``) with the best first-error F1: ``(threshold, f1)``.

    Ties go to the threshold nearest 0.5, so an uninformative dev split leaves the default.
    """
    grid = grid if grid is not None else [i / 40 for i in range(1, 40)]
    best = (0.5, -1.0)
    for thr in sorted(grid, key=lambda t: abs(t - 0.5)):
        f1 = processbench_f1([first_error_at(s, thr) for s in scores], reference)
        if f1 > best[1]:
            best = (thr, f1)
    return best
