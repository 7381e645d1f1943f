"""The metrics themselves, as pure functions over plain lists (no records, no I/O).

- ProcessBench (Zheng et al. 2024): per split, ``acc_error`` = share of erroneous items
  whose predicted first-error index equals the true one exactly, ``acc_correct`` = share of
  error-free items predicted -1, ``f1`` = their harmonic mean; the headline is the mean of
  the per-split F1s. A missing prediction (None) is a miss.
- PRMBench-style step level: F1 of the "correct" class, negative F1 (the "wrong" class) and
  their mean (PRMBench's PRMScore with equal weights), over steps both sides decided.
- Expected calibration error over equal-width bins, for scores that are probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Confusion",
    "PBSplit",
    "confusion",
    "expected_calibration_error",
    "processbench",
    "step_f1",
]


@dataclass(slots=True)
class PBSplit:
    """ProcessBench figures of one split (None where the split has no items of a kind)."""

    n_error: int
    n_correct: int
    acc_error: float | None
    acc_correct: float | None
    f1: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "n_error": self.n_error,
            "n_correct": self.n_correct,
            "acc_error": self.acc_error,
            "acc_correct": self.acc_correct,
            "f1": self.f1,
        }


def _split_figures(truth: Sequence[int], pred: Sequence[int | None]) -> PBSplit:
    err = [(t, p) for t, p in zip(truth, pred) if t != -1]
    ok = [(t, p) for t, p in zip(truth, pred) if t == -1]
    acc_e = sum(p == t for t, p in err) / len(err) if err else None
    acc_c = sum(p == -1 for _, p in ok) / len(ok) if ok else None
    f1: float | None = None
    if acc_e is not None and acc_c is not None:
        f1 = 0.0 if acc_e + acc_c == 0 else 2 * acc_e * acc_c / (acc_e + acc_c)
    return PBSplit(len(err), len(ok), acc_e, acc_c, f1)


def processbench(
    truth: Sequence[int], pred: Sequence[int | None], splits: Sequence[str] | None = None
) -> dict[str, object]:
    """ProcessBench metric: ``{"splits": {name: PBSplit dict}, "average_f1": mean of split F1s}``.

    ``truth[i]`` is the true first-error index (-1 = none), ``pred[i]`` the prediction.
    A split without both kinds of item has no F1 and is left out of the average.
    """
    if not (len(truth) == len(pred) and (splits is None or len(splits) == len(truth))):
        raise ValueError("truth, pred and splits must have the same length")
    names = list(splits) if splits is not None else ["all"] * len(truth)
    by: dict[str, tuple[list[int], list[int | None]]] = {}
    for t, p, s in zip(truth, pred, names):
        ts, ps = by.setdefault(s, ([], []))
        ts.append(t)
        ps.append(p)
    figs = {s: _split_figures(ts, ps) for s, (ts, ps) in sorted(by.items())}
    f1s = [f.f1 for f in figs.values() if f.f1 is not None]
    return {
        "splits": {s: f.to_dict() for s, f in figs.items()},
        "average_f1": sum(f1s) / len(f1s) if f1s else None,
    }


@dataclass(slots=True)
class Confusion:
    """Step counts: rows = truth (correct / wrong), columns = prediction (correct / wrong / none)."""

    tp: int = 0  # truth correct, predicted correct
    fn: int = 0  # truth correct, predicted wrong
    fp: int = 0  # truth wrong, predicted correct
    tn: int = 0  # truth wrong, predicted wrong
    correct_none: int = 0  # truth correct, undecided
    wrong_none: int = 0  # truth wrong, undecided

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {
            "truth_correct": {"pred_correct": self.tp, "pred_wrong": self.fn, "pred_none": self.correct_none},
            "truth_wrong": {"pred_correct": self.fp, "pred_wrong": self.tn, "pred_none": self.wrong_none},
        }


def confusion(truth: Sequence[bool | None], pred: Sequence[bool | None]) -> Confusion:
    """Count step outcomes; steps whose truth is undecided are not counted."""
    c = Confusion()
    for t, p in zip(truth, pred, strict=True):
        if t is None:
            continue
        if t:
            if p is None:
                c.correct_none += 1
            elif p:
                c.tp += 1
            else:
                c.fn += 1
        else:
            if p is None:
                c.wrong_none += 1
            elif p:
                c.fp += 1
            else:
                c.tn += 1
    return c


def _f1(tp: int, fp: int, fn: int) -> float | None:
    if tp + fp + fn == 0:
        return None
    return 2 * tp / (2 * tp + fp + fn)


def step_f1(c: Confusion) -> dict[str, float | None]:
    """PRMBench-style step metrics over decided steps.

    ``f1`` treats "correct" as the positive class, ``negative_f1`` treats "wrong" as positive;
    ``prm_score`` is their mean. ``precision_wrong`` is the share of flagged steps that are
    truly wrong; ``coverage`` the share of truth-decided steps the label decided.
    """
    f1 = _f1(c.tp, c.fp, c.fn)
    nf1 = _f1(c.tn, c.fn, c.fp)
    flagged = c.tn + c.fn
    total = c.tp + c.fn + c.fp + c.tn + c.correct_none + c.wrong_none
    return {
        "f1": f1,
        "negative_f1": nf1,
        "prm_score": (f1 + nf1) / 2 if f1 is not None and nf1 is not None else None,
        "precision_wrong": c.tn / flagged if flagged else None,
        "recall_wrong": c.tn / (c.tn + c.fp + c.wrong_none) if (c.tn + c.fp + c.wrong_none) else None,
        "accuracy": (c.tp + c.tn) / (c.tp + c.tn + c.fp + c.fn) if (c.tp + c.tn + c.fp + c.fn) else None,
        "coverage": (total - c.correct_none - c.wrong_none) / total if total else None,
        "flagged": flagged,
    }


def expected_calibration_error(
    scores: Sequence[float], outcomes: Sequence[bool], bins: int = 10
) -> dict[str, object]:
    """ECE over ``bins`` equal-width bins of [0, 1]: sum over bins of |bin| / n * |acc - conf|.

    A score of exactly 1.0 falls in the last bin. Returns the ECE and the per-bin table.
    """
    if len(scores) != len(outcomes):
        raise ValueError("scores and outcomes must have the same length")
    n = len(scores)
    table = []
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if not idx:
            continue
        conf = sum(scores[i] for i in idx) / len(idx)
        acc = sum(1 for i in idx if outcomes[i]) / len(idx)
        ece += len(idx) / n * abs(acc - conf)
        table.append({"lo": lo, "hi": hi, "n": len(idx), "confidence": conf, "accuracy": acc})
    return {"ece": ece if n else None, "n": n, "bins": table}
