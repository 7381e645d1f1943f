"""Measuring labels: the ProcessBench metric, step-level F1, confusion, calibration, cost."""

from stepsieve.evaluate._metrics import (
    Confusion,
    confusion,
    expected_calibration_error,
    processbench,
    step_f1,
)
from stepsieve.evaluate._predict import predicted_first_error, step_predictions
from stepsieve.evaluate._report import evaluate, split_of

__all__ = [
    "Confusion",
    "confusion",
    "evaluate",
    "expected_calibration_error",
    "predicted_first_error",
    "processbench",
    "split_of",
    "step_f1",
    "step_predictions",
]
