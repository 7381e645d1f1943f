"""The streaming summary behind ``stepsieve inspect``, and the pinned I/O API."""

from __future__ import annotations

import stepsieve.formats
import stepsieve.segment
import stepsieve.trajectory
from stepsieve import Label, Outcome, Step, Trajectory
from stepsieve.trajectory import summarize


def _t(tid, texts, verdicts, correct=None):
    steps = [Step(i, x, labels={} if v is None else {"truth": Label(1.0 if v == "correct" else 0.0, v)})
             for i, (x, v) in enumerate(zip(texts, verdicts))]
    return Trajectory(tid, "q", steps, Outcome(correct=correct))


def test_summary_counts_lengths_and_first_errors():
    s = summarize([
        _t("a", ["x" * 10, "x" * 20], ["correct", "incorrect"], False),
        _t("b", ["x" * 30], ["correct"], True),
        _t("c", ["x" * 40, "x" * 50, "x" * 60], ["correct", None, None]),
    ]).to_dict()
    assert (s["trajectories"], s["steps"]) == (3, 6)
    assert s["steps_per_trajectory"] == {"mean": 2.0, "min": 1, "max": 3}
    assert s["step_chars"] == {"mean": 35.0, "p50": 30, "p95": 60, "max": 60}
    assert s["outcomes"] == {"incorrect": 1, "correct": 1, "unknown": 1}
    truth = s["labels"]["truth"]
    assert truth["steps"] == 4 and truth["verdicts"] == {"correct": 3, "incorrect": 1}
    assert truth["first_error"] == {"-1": 1, "1": 1, "undecided": 1}


def test_public_io_api_is_pinned():
    assert {
        "open_reader", "open_writer", "read_trajectories", "write_trajectories", "convert", "Reader", "Writer",
        "ConvertStats", "FORMATS", "Format", "RecordFormat", "format_options", "get_format",
    } <= set(stepsieve.formats.__all__)
    assert {"RejectSink", "rejects_path", "TRAJECTORY_SCHEMA", "Trajectory", "Step", "Label", "TaskTree"} <= set(
        stepsieve.trajectory.__all__
    )
    assert "get_segmenter" in stepsieve.segment.__all__ and "SEGMENTERS" in stepsieve.segment.__all__
    for name in stepsieve.formats.FORMATS:
        assert isinstance(stepsieve.formats.get_format(name), stepsieve.formats.Format)
