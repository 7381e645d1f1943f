"""``stepsieve``: the canonical record itself (JSONL lines of ``Trajectory.to_dict``, or
Parquet rows of the typed ``TRAJECTORY_SCHEMA``)."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory._parquet import TRAJECTORY_SCHEMA, batch_to_dicts, trajectories_to_batch
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

    # Parquet: whole columns are converted (see trajectory/_parquet.py); a row handed to
    # decode_row is already the record's dict form, validated by from_dict as usual.

    def batch_rows(self, batch: Any) -> Iterator[dict[str, Any]]:
        missing = [n for n in TRAJECTORY_SCHEMA.names if n not in batch.schema.names]
        if missing:
            raise SchemaError(
                f"not a stepsieve Parquet file: no column '{missing[0]}' (a foreign layout needs --from FORMAT)"
            )
        return batch_to_dicts(batch)

    def decode_row(self, row: Any) -> Trajectory:
        return Trajectory.from_dict(row)

    def encode_row(self, t: Trajectory) -> Trajectory:
        return t

    def rows_to_batch(self, rows: list[Any], schema: Any) -> Any:
        return trajectories_to_batch(rows)
