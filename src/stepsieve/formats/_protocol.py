"""The Format protocol: one foreign record layout <-> the canonical Trajectory.

A format maps ONE parsed record (a JSON object, or a Parquet row) to one Trajectory and
back; the container (JSONL, JSON array, Parquet) and the error policy belong to the
readers and writers in ``stepsieve.trajectory``. So an adapter is two pure functions and
is tested as such, and every adapter gets streaming, rejects and Parquet for free.

Losslessness rule: a field of the foreign format that has no place in the record goes to
``Trajectory.meta`` / ``Step.meta`` (unknown top-level keys under ``meta["extra_fields"]``)
and is written back, so ``encode(decode(x)) == x``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from stepsieve.trajectory import Trajectory, rows_to_table

__all__ = ["BytesCodec", "Format", "RecordFormat"]


@runtime_checkable
class Format(Protocol):
    """Converts one record of a foreign layout to a Trajectory and back.

    ``decode``/``encode`` handle JSON records. For Parquet, ``batch_rows`` splits a read batch
    into rows for ``decode_row``, and ``encode_row`` results are collected and turned into a
    batch by ``rows_to_batch`` (by default rows are JSON-like dicts and Arrow converts them;
    the canonical format converts whole columns instead). ``arrow_schema`` fixes the column
    types (None: inferred from the first batch written). Both decoders
    raise SchemaError on a bad record; encoders raise DataError when a Trajectory cannot be
    expressed in the format (e.g. it lacks the labels the format needs).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    arrow_schema: ClassVar[Any]

    def decode(self, obj: Any) -> Trajectory: ...

    def encode(self, t: Trajectory) -> dict[str, Any]: ...

    def decode_row(self, row: Any) -> Trajectory: ...

    def encode_row(self, t: Trajectory) -> Any: ...

    def batch_rows(self, batch: Any) -> Iterable[Any]:
        """The rows of one Arrow record batch, each then given to ``decode_row``."""
        ...

    def rows_to_batch(self, rows: list[Any], schema: Any) -> Any:
        """``encode_row`` results -> one Arrow table/record batch (schema None: infer)."""
        ...


@runtime_checkable
class BytesCodec(Protocol):
    """A format whose JSON records go straight from bytes to a Trajectory and back (the
    canonical one, in one msgspec pass each way). ``decode_bytes`` returns None for a record
    it does not accept as it is; the reader then parses the text and calls ``decode``,
    which upgrades it or says what is wrong."""

    def decode_bytes(self, raw: bytes) -> Trajectory | None: ...

    def encode_bytes(self, t: Trajectory) -> bytes: ...


class RecordFormat:
    """Base of the built-in adapters: rows are JSON records, plus DESIGN's ``read``/``write``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    arrow_schema: ClassVar[Any] = None
    # Nested keys whose explicit null means something (kept when reading Parquet rows).
    nullable: ClassVar[frozenset[str]] = frozenset()
    # True when the layout references step images (``Step.images``): its writers then bring
    # the images into the output's media folder (``stepsieve.media``).
    carries_media: ClassVar[bool] = False

    def decode(self, obj: Any) -> Trajectory:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, t: Trajectory) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode_row(self, row: dict[str, Any]) -> Trajectory:
        """A Parquet row. Arrow gives every object in a column the union of all their keys,
        padding the missing ones with null; those pads are dropped (except ``nullable``
        keys) so the record reads as it was written."""
        return self.decode(_prune(row, self.nullable))

    def encode_row(self, t: Trajectory) -> Any:
        return self.encode(t)

    def batch_rows(self, batch: Any) -> Iterable[Any]:
        return batch.to_pylist()

    def rows_to_batch(self, rows: list[Any], schema: Any) -> Any:
        return rows_to_table(rows, schema)

    def read(self, path: str | Path, **reader_options: Any) -> Any:
        """A streaming Reader of ``path`` in this format (``on_error``, ``rejects``...)."""
        from stepsieve.formats._io import open_reader  # _io builds on this module

        return open_reader(path, self, **reader_options)

    def write(self, trajectories: Iterable[Trajectory], path: str | Path) -> int:
        """Write ``trajectories`` to ``path`` in this format; returns how many."""
        from stepsieve.formats._io import write_trajectories

        return write_trajectories(trajectories, path, self)


def _prune(v: Any, keep: frozenset[str]) -> Any:
    if isinstance(v, dict):
        return {k: _prune(x, keep) for k, x in v.items() if x is not None or k in keep}
    if isinstance(v, list):
        return [_prune(x, keep) for x in v]
    return v
