"""Record sinks: write encoded records into a container (JSONL, JSON array, Parquet).

Sinks write to ``<path>.partial`` and rename onto ``path`` only when closed after success
(the partial file fsync'ed first), so an interrupted or failed run never leaves a file that
looks complete; a write that fails (disk full) removes the partial file and raises
OutputError. Parquet is written
in row groups of ``batch_size`` records; nothing holds more than one batch.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Any

import orjson

from stepsieve._errors import DataError, OutputError

__all__ = ["JsonArraySink", "JsonlSink", "ParquetSink", "Sink", "commit_partial", "open_sink", "rows_to_table"]

_NOTHING_LEFT = "nothing was written there (its .partial file is removed); free space and run the command again"


def commit_partial(partial: Path, path: Path) -> None:
    """Move a finished ``partial`` file onto ``path``: fsync'ed first, so the name never
    points at a file whose bytes are not on disk yet."""
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)

_DUMP_OPT = orjson.OPT_APPEND_NEWLINE


class Sink:
    """Base: atomic write through a ``.partial`` file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._closed = False

    def write(self, record: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def write_raw(self, raw: bytes) -> None:
        """Write one record already encoded as JSON text (JSONL and JSON arrays)."""
        raise DataError(f"{type(self).__name__} takes records, not JSON text", path=str(self.path))

    def _finish(self) -> None:
        """Flush and close the partial file."""

    def close(self, ok: bool = True) -> None:
        """Finish the file; on success move it into place, on failure remove it."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
            if ok:
                commit_partial(self.partial, self.path)
                return
        except OSError as e:
            self.partial.unlink(missing_ok=True)
            raise OutputError.from_os(e, self.path, _NOTHING_LEFT) from None
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise
        self.partial.unlink(missing_ok=True)

    def failed(self, e: OSError) -> OutputError:
        """A write failed (disk full): drop the partial file; the error to raise."""
        with contextlib.suppress(OutputError):
            self.close(ok=False)
        return OutputError.from_os(e, self.path, _NOTHING_LEFT)


class JsonlSink(Sink):
    """One JSON object a line, UTF-8, ``\\n`` line ends."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._fh: IO[bytes] = open(self.partial, "wb", buffering=1 << 20)  # noqa: SIM115 - held until close()

    def write(self, record: Any) -> None:
        self._fh.write(orjson.dumps(record, option=_DUMP_OPT))
        self.count += 1

    def write_raw(self, raw: bytes) -> None:
        self._fh.write(raw)
        self._fh.write(b"\n")
        self.count += 1

    def _finish(self) -> None:
        self._fh.close()


class JsonArraySink(Sink):
    """A JSON array of objects, one element a line (the layout of ProcessBench's .json files)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self._fh: IO[bytes] = open(self.partial, "wb", buffering=1 << 20)  # noqa: SIM115 - held until close()
        self._fh.write(b"[")

    def write(self, record: Any) -> None:
        self.write_raw(orjson.dumps(record))

    def write_raw(self, raw: bytes) -> None:
        self._fh.write(b"\n" if self.count == 0 else b",\n")
        self._fh.write(raw)
        self.count += 1

    def _finish(self) -> None:
        if not self._fh.closed:
            self._fh.write(b"\n]\n")
            self._fh.close()


def rows_to_table(rows: list[Any], schema: Any) -> Any:
    """The generic batch encoder: row dicts -> an Arrow table (schema None: inferred)."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=schema)


class ParquetSink(Sink):
    """Records buffered into Arrow batches, one row group per batch.

    ``to_batch(records, schema)`` turns a buffer into an Arrow table or record batch (row
    dicts by default; the canonical format passes Trajectories and builds columns). A
    ``schema`` fixes the column types; without one the schema is inferred from the first
    batch and later batches must fit it (a record that does not raises DataError).
    """

    def __init__(self, path: str | Path, schema: Any = None, batch_size: int = 1024, to_batch: Any = None) -> None:
        super().__init__(path)
        self.schema = schema
        self.batch_size = batch_size
        self.to_batch = to_batch or rows_to_table
        self._rows: list[Any] = []
        self._writer: Any = None

    def write(self, record: Any) -> None:
        self._rows.append(record)
        self.count += 1
        if len(self._rows) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._rows:
            return
        try:
            table = self.to_batch(self._rows, self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as e:
            raise DataError(f"records do not fit the Parquet schema: {e}", path=str(self.path)) from None
        if self._writer is None:
            self.schema = table.schema
            self._writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
        if isinstance(table, pa.RecordBatch):
            self._writer.write_batch(table)
        else:
            self._writer.write_table(table)
        self._rows.clear()

    def _finish(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            self._flush()
        finally:
            if self._writer is None:  # no records at all: still write a valid, empty file
                if self.schema is None:
                    self.schema = pa.schema([])
                self._writer = pq.ParquetWriter(self.partial, self.schema)
            self._writer.close()


def open_sink(
    path: str | Path, container: str, schema: Any = None, batch_size: int = 1024, to_batch: Any = None
) -> Sink:
    """A sink for ``container`` ("jsonl", "json" or "parquet")."""
    if container == "jsonl":
        return JsonlSink(path)
    if container == "json":
        return JsonArraySink(path)
    if container == "parquet":
        return ParquetSink(path, schema, batch_size, to_batch)
    raise DataError(f"unknown container {container!r} (known: jsonl, json, parquet)", path=str(path))
