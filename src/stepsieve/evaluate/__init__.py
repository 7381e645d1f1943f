"""Measuring labels: the ProcessBench metric, PRMBench's PRMScore, step-level F1, confusion,
calibration, cost; the official scripts' prediction files."""

from stepsieve.evaluate._metrics import (
    Confusion,
    confusion,
    expected_calibration_error,
    processbench,
    step_f1,
)
from stepsieve.evaluate._official import (
    prmbench_metrics,
    prmbench_predictions,
    prmbench_score,
    processbench_predictions,
)
from stepsieve.evaluate._predict import predicted_first_error, step_predictions
from stepsieve.evaluate._report import evaluate, split_of

__all__ = [
    "Confusion",
    "confusion",
    "evaluate",
    "expected_calibration_error",
    "predicted_first_error",
    "prmbench_metrics",
    "prmbench_predictions",
    "prmbench_score",
    "processbench",
    "processbench_predictions",
    "split_of",
    "step_f1",
    "step_predictions",
]
