"""Writing export rows: JSONL or Parquet (chosen by the output suffix), streamed.

JSONL lines are serialised by orjson and written ``batch_size`` at a time. Parquet is
written in row groups of ``batch_size`` rows with the format's explicit schema,
so memory holds one batch and ``datasets.load_dataset("parquet", data_files=...)`` sees
stable column types. Output goes to ``<path>.partial`` and is fsync'ed and renamed into place
only on success, so a failed or killed run never leaves a file that looks complete; a write
that fails (disk full) removes the partial file and raises OutputError.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import orjson

from stepsieve._errors import ConfigError, DataError, OutputError
from stepsieve.trajectory import commit_partial

__all__ = ["RowWriter", "container_for"]

_NOTHING_LEFT = "nothing was written there (its .partial file is removed); free space and run the command again"


def container_for(path: str | Path) -> str:
    """``jsonl`` or ``parquet`` from the suffix (ConfigError otherwise)."""
    suf = Path(path).suffix.lower()
    if suf in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suf == ".parquet":
        return "parquet"
    raise ConfigError(f"{path}: output must end in .jsonl or .parquet")


class RowWriter:
    """Context manager: ``write(row)``; ``count`` rows written."""

    def __init__(self, path: str | Path, schema: Any = None, batch_size: int = 4096) -> None:
        self.path = Path(path)
        self.container = container_for(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.batch_size = batch_size
        self.count = 0
        self._rows: list[dict[str, Any]] = []
        self._pq: Any = None
        self._fh: IO[bytes] | None = None
        self._lines: list[bytes] | None = None
        self._closed = False
        if self.container == "jsonl":
            # open across write() calls until close(): a context manager cannot hold it
            self._fh = open(self.partial, "wb", buffering=1 << 20)  # noqa: SIM115
            self._lines = []

    def write(self, row: dict[str, Any]) -> None:
        try:
            self._write(row)
        except OSError as e:
            self._discard()
            raise OutputError.from_os(e, self.path, _NOTHING_LEFT) from None

    def _write(self, row: dict[str, Any]) -> None:
        self.count += 1
        if self._lines is not None:  # JSONL: lines written in batches of batch_size
            lines = self._lines
            lines.append(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
            if len(lines) >= self.batch_size:
                self._fh.write(b"".join(lines))  # type: ignore[union-attr]
                lines.clear()
            return
        self._rows.append(row)
        if len(self._rows) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._pq is None:
            if self.schema is None:
                self.schema = pa.Table.from_pylist(self._rows[:1]).schema if self._rows else pa.schema([])
            self._pq = pq.ParquetWriter(self.partial, self.schema, compression="zstd")
        if not self._rows:
            return
        try:
            table = pa.Table.from_pylist(self._rows, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, KeyError) as e:
            raise DataError(f"rows do not fit the Parquet schema: {e}", path=str(self.path)) from None
        self._pq.write_table(table)
        self._rows.clear()

    def close(self, ok: bool = True) -> None:
        if self._closed:
            return
        try:
            self._close(ok)
        except OSError as e:
            self._discard()
            raise OutputError.from_os(e, self.path, _NOTHING_LEFT) from None

    def _discard(self) -> None:
        """After a failed write: close what is open (errors ignored) and remove the partial file."""
        self._closed = True
        for closer in (self._fh, self._pq):
            try:
                if closer is not None:
                    closer.close()
            except (OSError, ValueError):
                pass
        self.partial.unlink(missing_ok=True)

    def _close(self, ok: bool) -> None:
        self._closed = True
        if self._fh is not None:
            if ok and self._lines:
                self._fh.write(b"".join(self._lines))
            self._fh.close()
        elif ok:
            self._flush()
            self._pq.close()
        elif self._pq is not None:
            self._pq.close()
        if ok:
            commit_partial(self.partial, self.path)
        elif self.partial.exists():
            self.partial.unlink()

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(ok=exc_type is None)
