"""The canonical Trajectory record and its streaming readers and writers."""

from stepsieve.trajectory._io import (
    ConvertStats,
    OnError,
    Reader,
    Writer,
    convert,
    open_reader,
    open_writer,
    read_trajectories,
    write_trajectories,
)
from stepsieve.trajectory._parquet import TRAJECTORY_SCHEMA
from stepsieve.trajectory._record import (
    SCHEMA_VERSION,
    VERDICTS,
    Cost,
    GraderRef,
    Label,
    Outcome,
    Step,
    StepKind,
    Trajectory,
    Verdict,
)
from stepsieve.trajectory._rejects import RejectSink, rejects_path

__all__ = [
    "SCHEMA_VERSION",
    "TRAJECTORY_SCHEMA",
    "VERDICTS",
    "ConvertStats",
    "Cost",
    "GraderRef",
    "Label",
    "OnError",
    "Outcome",
    "Reader",
    "RejectSink",
    "Step",
    "StepKind",
    "Trajectory",
    "Verdict",
    "Writer",
    "convert",
    "open_reader",
    "open_writer",
    "read_trajectories",
    "rejects_path",
    "write_trajectories",
]
