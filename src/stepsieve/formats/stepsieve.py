"""``stepsieve``: the canonical record itself (JSONL lines of ``Trajectory.to_dict``, or
Parquet rows of the typed ``TRAJECTORY_SCHEMA``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory._parquet import TRAJECTORY_SCHEMA, row_to_dict, trajectory_to_row
from stepsieve.trajectory._record import Trajectory

__all__ = ["Stepsieve"]


@dataclass(frozen=True)
class Stepsieve(RecordFormat):
    """The canonical layout; validation is ``Trajectory.from_dict``'s."""

    name: ClassVar[str] = "stepsieve"
    description: ClassVar[str] = "canonical Trajectory records (JSONL or typed Parquet)"
    arrow_schema: ClassVar[Any] = TRAJECTORY_SCHEMA

    def decode(self, obj: Any) -> Trajectory:
        return Trajectory.from_dict(obj)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        return t.to_dict()

    def decode_row(self, row: dict[str, Any]) -> Trajectory:
        return Trajectory.from_dict(row_to_dict(row))

    def encode_row(self, t: Trajectory) -> dict[str, Any]:
        return trajectory_to_row(t)
