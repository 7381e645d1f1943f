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
from stepsieve.trajectory._tree import Node, TaskTree, normalize_step, task_key

__all__ = [
    "SCHEMA_VERSION",
    "TRAJECTORY_SCHEMA",
    "VERDICTS",
    "ConvertStats",
    "Cost",
    "GraderRef",
    "Label",
    "Node",
    "OnError",
    "Outcome",
    "Reader",
    "RejectSink",
    "Step",
    "StepKind",
    "TaskTree",
    "Trajectory",
    "Verdict",
    "Writer",
    "convert",
    "normalize_step",
    "open_reader",
    "open_writer",
    "read_trajectories",
    "rejects_path",
    "task_key",
    "write_trajectories",
]
