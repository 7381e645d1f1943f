"""The canonical Trajectory record and its streaming readers and writers."""

from stepsieve.trajectory._io import read_trajectories, write_trajectories
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
from stepsieve.trajectory._tree import Node, TaskTree, normalize_step, task_key

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Cost",
    "GraderRef",
    "Label",
    "Node",
    "Outcome",
    "Step",
    "StepKind",
    "TaskTree",
    "Trajectory",
    "Verdict",
    "normalize_step",
    "read_trajectories",
    "task_key",
    "write_trajectories",
]
