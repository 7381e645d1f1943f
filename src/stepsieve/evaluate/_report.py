"""``evaluate``: measure one label against the truth (or against another label).

Streams the trajectories once, keeping only a few numbers per trajectory, then computes
the ProcessBench metric per split, step-level F1 / negative F1, the confusion matrix,
calibration for score-valued labels (with a threshold chosen on a dev split when asked)
and the cost the label recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.evaluate._metrics import confusion, expected_calibration_error, processbench, step_f1
from stepsieve.evaluate._predict import NoneAs, first_error_of, predicted_first_error, step_predictions
from stepsieve.trajectory import Cost, Trajectory

__all__ = ["evaluate", "split_of"]


def split_of(t: Trajectory, key: str | None = None) -> str:
    """The split a trajectory belongs to: ``meta[key]``, else ``meta["split"]``, else
    ``meta["source"]``, else "all"."""
    for k in ([key] if key else ["split", "source"]):
        v = t.meta.get(k)
        if v is not None:
            return str(v)
    return "all"


@dataclass(slots=True)
class _Item:
    split: str
    truth_steps: list[bool | None]
    truth_fe: int | None
    verdicts: list[bool | None]
    scores: list[float | None]
    advantage: bool
    cost: Cost = field(default_factory=Cost)
    labelled: bool = False


def _collect(ts: Iterable[Trajectory], label: str, against: str, split_key: str | None) -> list[_Item]:
    items = []
    for t in ts:
        cost = Cost()
        labelled = False
        advantage = False
        for s in t.steps:
            lab = s.labels.get(label)
            if lab is None:
                continue
            labelled = True
            if lab.cost is not None:
                cost = cost + lab.cost
            if lab.extra and lab.extra.get("kind") == "advantage":
                advantage = True
        items.append(
            _Item(
                split_of(t, split_key),
                step_predictions(t, against),
                predicted_first_error(t, against),
                step_predictions(t, label),
                t.scores(label),
                advantage,
                cost,
                labelled,
            )
        )
    return items


def _thresholded(scores: list[float | None], thr: float) -> list[bool | None]:
    return [None if s is None else s >= thr for s in scores]


def _pb(items: list[_Item], thr: float | None, none_as: NoneAs) -> dict[str, Any]:
    preds = [first_error_of(it.verdicts if thr is None else _thresholded(it.scores, thr), none_as) for it in items]
    return processbench([it.truth_fe for it in items], preds, [it.split for it in items])  # type: ignore[misc]


def _select_threshold(dev: list[_Item], none_as: NoneAs) -> tuple[float, float | None]:
    values = sorted({s for it in dev for s in it.scores if s is not None})
    if not values:
        raise ConfigError("threshold selection: the dev split has no scores")
    if len(values) > 200:  # quantiles keep selection linear in the data
        values = [values[round(i * (len(values) - 1) / 199)] for i in range(200)]
    cands = [*values, values[-1] + 1e-9]
    best_t, best_f = cands[0], -1.0
    for c in cands:
        f = _pb(dev, c, none_as)["average_f1"]
        if f is not None and f > best_f:
            best_t, best_f = c, f
    return best_t, (best_f if best_f >= 0 else None)


def evaluate(
    trajectories: Iterable[Trajectory],
    label: str,
    against: str = "truth",
    *,
    split_key: str | None = None,
    threshold: float | str | None = None,
    dev_split: str | None = None,
    none_as: NoneAs = "pass",
    bins: int = 10,
) -> dict[str, Any]:
    """Measure ``label`` against ``against`` and return a JSON-ready report.

    ``threshold``: None reads verdicts; a number reads ``score >= threshold`` as correct;
    "auto" picks the threshold maximising ProcessBench average F1 on the ``dev_split``
    items, which are then left out of every other figure. Trajectories without a decided
    truth are counted and skipped.
    """
    items = _collect(trajectories, label, against, split_key)
    n_read = len(items)
    items = [it for it in items if it.truth_fe is not None]
    skipped = n_read - len(items)
    if not any(it.labelled for it in items):
        raise ConfigError(f"no step carries the label {label!r} (among trajectories with a decided {against!r})")
    report: dict[str, Any] = {"label": label, "against": against, "trajectories": len(items)}
    if skipped:
        report["skipped_no_truth"] = skipped
    thr: float | None = None
    if threshold == "auto":
        if not dev_split:
            raise ConfigError("--threshold auto needs --dev-split NAME (the split to choose it on)")
        dev = [it for it in items if it.split == dev_split]
        if not dev:
            raise ConfigError(f"no trajectory is in the dev split {dev_split!r}")
        thr, dev_f1 = _select_threshold(dev, none_as)
        items = [it for it in items if it.split != dev_split]
        report["threshold"] = {"value": thr, "selected_on": dev_split, "dev_average_f1": dev_f1}
        report["trajectories"] = len(items)
    elif threshold is not None:
        thr = float(threshold)
        report["threshold"] = {"value": thr}
    report["processbench"] = _pb(items, thr, none_as)
    truth_all: list[bool | None] = []
    pred_all: list[bool | None] = []
    for it in items:
        truth_all += it.truth_steps
        pred_all += it.verdicts if thr is None else _thresholded(it.scores, thr)
    c = confusion(truth_all, pred_all)
    report["steps"] = step_f1(c)
    report["confusion"] = c.to_dict()
    pairs = [
        (s, t)
        for it in items
        if not it.advantage
        for s, t in zip(it.scores, it.truth_steps)
        if s is not None and t is not None
    ]
    if pairs and all(0.0 <= s <= 1.0 for s, _ in pairs):
        report["calibration"] = expected_calibration_error([s for s, _ in pairs], [t for _, t in pairs], bins)
    total = sum((it.cost for it in items), Cost())
    n_lab = max(1, sum(it.labelled for it in items))
    report["cost"] = {
        "total": total.to_dict(),
        "per_trajectory": {k: v / n_lab for k, v in total.to_dict().items()},
        "per_step_label": {
            k: v / max(1, sum(len(it.scores) for it in items if it.labelled)) for k, v in total.to_dict().items()
        },
    }
    return report
