"""``stepsieve``: the canonical record itself (JSONL lines of the record's JSON form, or
Parquet rows of ``TRAJECTORY_SCHEMA``, derived from the record's definition)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import (
    TRAJECTORY_SCHEMA,
    Trajectory,
    batch_rows,
    decode_json,
    encode_json,
    records_to_batch,
)

__all__ = ["Stepsieve"]


@dataclass(frozen=True)
class Stepsieve(RecordFormat):
    """The canonical layout; validation is the record definition's (msgspec)."""

    name: ClassVar[str] = "stepsieve"
    description: ClassVar[str] = "canonical Trajectory records (JSONL or typed Parquet)"
    arrow_schema: ClassVar[Any] = TRAJECTORY_SCHEMA
    carries_media: ClassVar[bool] = True

    def decode(self, obj: Any) -> Trajectory:
        return Trajectory.from_dict(obj)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        return t.to_dict()

    def decode_bytes(self, raw: bytes) -> Trajectory | None:
        return decode_json(raw)

    def encode_bytes(self, t: Trajectory) -> bytes:
        return encode_json(t)

    # Parquet: whole columns are converted (trajectory/_arrow.py): a row handed to
    # decode_row is a record built from typed columns, or (a batch holding something the
    # record's types do not allow) its dict form, which from_dict validates and words.

    def batch_rows(self, batch: Any) -> list[Any]:
        return batch_rows(batch)

    def decode_row(self, row: Any) -> Trajectory:
        return row if isinstance(row, Trajectory) else Trajectory.from_dict(row)

    def encode_row(self, t: Trajectory) -> Trajectory:
        return t

    def rows_to_batch(self, rows: list[Any], schema: Any) -> Any:
        return records_to_batch(rows)
