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

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Cost",
    "GraderRef",
    "Label",
    "Outcome",
    "Step",
    "StepKind",
    "Trajectory",
    "Verdict",
    "read_trajectories",
    "write_trajectories",
]
