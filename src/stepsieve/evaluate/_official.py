"""Parity with the benchmarks' own scorers, and reading their prediction files.

- PRMBench (``mr_eval/tasks/prmtest_classified/task.py``): per step, positive = "correct".
  TP/FP/TN/FN are pooled over the items of a category (``classification``) and, for the
  overall figure, over every item except the ``correct`` ones (the original processes). F1
  and negative F1 come from the pooled counts; PRMScore = 0.5 F1 + 0.5 negative F1 (F1 alone
  for ``multi_solutions``). The scorer walks the predicted labels, so ``error_steps`` beyond
  them are ignored: counted and reported here. Items whose prediction has ``validity:
  false`` are left out, as there.
- ProcessBench (``code/run_eval.py``): one ``{split}_error.jsonl`` and ``{split}_correct.jsonl``
  per split, each line the item plus ``prediction`` (int or null); per split ``acc_error`` /
  ``acc_correct`` = share with ``prediction == label``, F1 their harmonic mean, and the
  headline the mean over splits (``stepsieve.evaluate.processbench``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from stepsieve._errors import ConfigError, DataError
from stepsieve.evaluate._metrics import processbench
from stepsieve.evaluate._predict import step_predictions
from stepsieve.formats.processbench import split_from_id
from stepsieve.trajectory import Trajectory

__all__ = [
    "PRMItem",
    "prmbench_metrics",
    "prmbench_predictions",
    "prmbench_score",
    "processbench_predictions",
]

_F1_ONLY = frozenset({"multi_solutions"})
_REDUNDANCY = frozenset({"redundency", "circular"})  # PRMBench's spelling


@dataclass(slots=True)
class PRMItem:
    """One scored item: its category, 0-based wrong steps, predicted labels (True = correct)."""

    category: str
    errors: set[int]
    labels: Sequence[bool]
    out_of_range: int = 0


@dataclass(slots=True)
class _Counts:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    items: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, it: PRMItem) -> None:
        self.items += 1
        for i, ok in enumerate(it.labels):
            if i in it.errors:
                self.fp += ok
                self.tn += not ok
            else:
                self.tp += ok
                self.fn += not ok

    def figures(self, f1_only: bool = False) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return a / b if b else None

        def f1(p: float | None, r: float | None) -> float | None:
            return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)

        p, r = ratio(self.tp, self.tp + self.fp), ratio(self.tp, self.tp + self.fn)
        np_, nr = ratio(self.tn, self.tn + self.fn), ratio(self.tn, self.tn + self.fp)
        pos, neg = f1(p, r), f1(np_, nr)
        score = pos if f1_only else (None if pos is None or neg is None else 0.5 * pos + 0.5 * neg)
        return {"items": self.items, "tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn,
                "precision": p, "recall": r, "f1": pos, "negative_precision": np_, "negative_recall": nr,
                "negative_f1": neg, "prm_score": score}


def prmbench_metrics(items: Iterable[PRMItem]) -> dict[str, Any]:
    """PRMScore overall (``correct`` items excluded), per category, and their mean."""
    total = _Counts()
    by: dict[str, _Counts] = {}
    out_items = out_steps = 0
    for it in items:
        by.setdefault(it.category, _Counts()).add(it)
        if it.category != "correct":
            total.add(it)
        out_items += it.out_of_range > 0
        out_steps += it.out_of_range
    cats = {c: n.figures(c in _F1_ONLY) for c, n in sorted(by.items())}
    scores = [f["prm_score"] for f in cats.values() if f["prm_score"] is not None]
    return {
        "overall": total.figures(),
        "categories": cats,
        "category_mean": sum(scores) / len(scores) if scores else None,
        "out_of_range_error_steps": {"items": out_items, "indices": out_steps},
    }


def _category(t: Trajectory) -> str:
    kept = t.meta.get("prmbench") or {}
    return str(kept.get("classification") or t.meta.get("classification") or "all")


def prmbench_score(
    trajectories: Iterable[Trajectory], label: str, against: str = "truth", *,
    threshold: float | None = None, none_as_correct: bool = True,
) -> dict[str, Any]:
    """PRMBench's PRMScore of ``label`` (verdicts, or ``score >= threshold``) against ``against``.

    A step the label leaves undecided counts as predicted correct (not flagged) by default,
    as a PRM that emits no error signal; ``none_as_correct=False`` leaves such steps out.
    """
    items = []
    for t in trajectories:
        truth = step_predictions(t, against)
        if any(v is None for v in truth):
            continue  # PRMBench judges every step
        pred = step_predictions(t, label, threshold)
        if none_as_correct:
            labels = [True if p is None else p for p in pred]
            errors = {i for i, v in enumerate(truth) if v is False}
        else:
            keep = [i for i, p in enumerate(pred) if p is not None]
            labels = [bool(pred[i]) for i in keep]
            errors = {j for j, i in enumerate(keep) if truth[i] is False}
        oor = len((t.meta.get("prmbench") or {}).get("out_of_range") or [])
        items.append(PRMItem(_category(t), errors, labels, oor))
    if not items:
        raise ConfigError(f"no trajectory has a {against!r} verdict on every step (PRMBench judges all)")
    return prmbench_metrics(items)


def _jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    obj = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: not JSON ({e})") from None
                if not isinstance(obj, dict):
                    raise DataError(f"{path}:{n}: expected a JSON object")
                yield n, obj


def prmbench_predictions(
    truth: Iterable[Trajectory], predictions: Sequence[Path], against: str = "truth"
) -> dict[str, Any]:
    """Score PRMBench ``mr_eval`` result lines (``{"idx", "scores": {"step_level_validity_labels"}}``)
    against the PRMBench items in ``truth`` (ids as PRMBench's loader builds them:
    ``{classification}_{idx}``, and ``correct_{idx}`` for the original processes)."""
    ref: dict[str, tuple[str, set[int], int]] = {}
    for t in truth:
        kept = t.meta.get("prmbench") or {}
        cat = _category(t)
        verdicts = step_predictions(t, against)
        errors = {i for i, v in enumerate(verdicts) if v is False}
        oor = len(kept.get("out_of_range") or [])
        ref[f"{cat}_{t.id}"] = ref[t.id] = (cat, errors, oor)
        if cat == "redundency" and kept.get("original_process"):
            ref[f"correct_{t.id}"] = ("correct", set(), 0)
    items, seen = [], set()
    missing = invalid = 0
    for path in predictions:
        for n, obj in _jsonl(path):
            idx = str(obj.get("idx"))
            if idx in seen:
                continue  # the scorer keeps the first result of an id
            seen.add(idx)
            if idx not in ref:
                missing += 1
                continue
            if obj.get("validity") is False:
                invalid += 1
                continue
            cat, errors, oor = ref[idx]
            scores = obj.get("scores") or {}
            if cat in _REDUNDANCY and "step_level_redundancy_labels" in scores:
                labels = [not bool(v) for v in scores["step_level_redundancy_labels"]]
            elif isinstance(scores.get("step_level_validity_labels"), list):
                labels = [bool(v) for v in scores["step_level_validity_labels"]]
            else:
                raise DataError(f"{path}:{n}: no scores.step_level_validity_labels for {idx!r}")
            items.append(PRMItem(cat, errors, labels, oor))
    if not items:
        raise DataError("no prediction matched an item of the reference file (ids: {classification}_{idx})")
    rep = prmbench_metrics(items)
    rep["predictions"] = {"scored": len(items), "invalid": invalid, "unmatched": missing}
    return rep


_PB_FILE = re.compile(r"^(?P<split>.+?)_(?:error|correct)\.jsonl$")


def processbench_predictions(predictions: Sequence[Path]) -> dict[str, Any]:
    """ProcessBench ``run_eval.py`` outputs: per-split F1 and the mean, as the script prints them.

    A file's split is its name's prefix (``gsm8k_error.jsonl``), else each item's id prefix.
    """
    truth: list[int] = []
    pred: list[int | None] = []
    splits: list[str] = []
    for path in predictions:
        m = _PB_FILE.match(path.name)
        for n, obj in _jsonl(path):
            label = obj.get("label")
            if not isinstance(label, int) or isinstance(label, bool):
                raise DataError(f"{path}:{n}: 'label' must be an integer")
            p = obj.get("prediction")
            if isinstance(p, str):
                p = int(p) if re.fullmatch(r"-?\d+", p.strip()) else None
            truth.append(label)
            pred.append(p if isinstance(p, int) and not isinstance(p, bool) else None)
            splits.append(m.group("split") if m else split_from_id(str(obj.get("id", ""))) or "all")
    if not truth:
        raise DataError("the prediction files hold no item")
    return processbench(truth, pred, splits)
