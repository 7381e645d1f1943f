"""Raw record sources: the containers records come in (JSONL, JSON array, Parquet).

A source yields ``SourceRecord``s: the parsed value of one record plus where it came from
and its original text, or the reason it could not be parsed. Sources know nothing of any
record layout; formats (``stepsieve.formats``) turn values into Trajectories. Every source
streams: JSONL line by line, Parquet batch by batch, a JSON array element by element over a
memory map (its pages are file-backed and reclaimable, never copied whole into the heap).
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from stepsieve._errors import DataError

__all__ = ["CONTAINERS", "SourceRecord", "container_of", "iter_source", "source_size"]

CONTAINERS = ("jsonl", "json", "parquet")
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark (some Windows tools write one)


class SourceRecord:
    """One record as read: ``line`` (1-based line, or row number for Parquet) and either
    ``value`` (the parsed JSON value / row dict) or ``error`` (why it is unreadable).

    ``record`` is the decoded record when a source's fast decoder already built it (the
    canonical JSONL fast path); ``value`` is then parsed from ``raw`` only if asked for.
    ``where()`` says where it is beyond the line: a JSON array's item index and the id."""

    __slots__ = ("_raw", "_value", "error", "item", "line", "record")

    def __init__(
        self, line: int, value: Any, error: str | None = None, raw: bytes | None = None, record: Any = None,
        item: int | None = None,
    ) -> None:
        self.line = line
        self.item = item  # 0-based position in a JSON array (one line may hold them all)
        self._value = value
        self.error = error
        self._raw = raw
        self.record = record

    @property
    def value(self) -> Any:
        if self._value is None and self.record is not None and self._raw is not None:
            self._value = orjson.loads(self._raw)
        return self._value

    def where(self) -> str:
        """``"array item 3 (id 'x'): "`` for an element of a JSON array, else ``""``."""
        if self.item is None:
            return ""
        v = self._value
        rid = next((v[k] for k in ("id", "idx", "uid") if isinstance(v, dict) and k in v), None)
        return f"array item {self.item}" + (f" (id {rid!r})" if rid is not None else "") + ": "

    @property
    def raw(self) -> bytes:
        """The record's original text (a Parquet row is rendered as JSON)."""
        if self._raw is None:
            self._raw = orjson.dumps(self.value, default=str)
        return self._raw


def container_of(path: str | Path) -> str:
    """The container of a file: by suffix, and for ``.json`` by its first byte ('[' = array)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".json" and p.exists():
        with open(p, "rb") as fh:
            head = fh.read(4096).removeprefix(_BOM).lstrip()
        # an empty .json file is an (invalid) JSON document, not an empty JSONL file
        return "json" if head.startswith(b"[") or not head else "jsonl"
    if suffix == ".json":
        return "json"
    return "jsonl"


def iter_source(
    path: str | Path,
    container: str,
    progress: list[int] | None = None,
    batch_rows: Any = None,
    fast: Callable[[bytes], Any] | None = None,
) -> Iterator[SourceRecord]:
    """Yield the raw records of ``path``. ``progress[0]`` is kept at the bytes (JSONL, JSON)
    or rows (Parquet) consumed so far, for progress bars. ``batch_rows(batch)`` turns an
    Arrow batch into row values (default: ``batch.to_pylist()``). ``fast(raw)`` (JSONL and
    JSON arrays) may decode a record's bytes straight into its ``record``; where it returns
    None the record is parsed as usual."""
    p = str(path)
    if not os.path.exists(p):
        raise DataError("no such file", path=p)
    if os.path.isdir(p):
        raise DataError("is a directory, not a file", path=p)
    prog = progress if progress is not None else [0]
    if container == "jsonl":
        return _iter_jsonl(p, prog, fast)
    if container == "json":
        return _iter_json_array(p, prog, fast)
    if container == "parquet":
        return _iter_parquet(p, prog, batch_rows)
    raise DataError(f"unknown container {container!r} (known: {', '.join(CONTAINERS)})", path=p)


def source_size(path: str | Path, container: str) -> int:
    """The total that ``progress`` counts up to: file bytes, or Parquet rows."""
    if container == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(str(path)).metadata.num_rows
        except (OSError, pa.ArrowException):  # an unreadable file fails properly when iterated
            return 0
    return os.path.getsize(path)


# ---- JSONL -----------------------------------------------------------------------------


def _iter_jsonl(
    path: str, prog: list[int], fast: Callable[[bytes], Any] | None = None
) -> Iterator[SourceRecord]:
    loads = orjson.loads
    with open(path, "rb") as fh:
        lineno = 0
        pos = 0
        for raw in fh:
            lineno += 1
            pos += len(raw)
            prog[0] = pos
            if lineno == 1:
                raw = raw.removeprefix(_BOM)
            if fast is not None:
                rec = fast(raw)
                if rec is not None:
                    yield SourceRecord(lineno, None, None, raw, rec)
                    continue
            try:
                value = loads(raw)
            except orjson.JSONDecodeError as e:
                if not raw.strip():
                    continue  # blank lines separate nothing and are not records
                yield SourceRecord(lineno, None, _json_error(raw, e), raw)
                continue
            yield SourceRecord(lineno, value, None, raw)


def _json_error(raw: bytes, e: Exception) -> str:
    """Why a line failed to parse, in the terms a user can act on."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as u:
        return f"invalid UTF-8: byte 0x{raw[u.start]:02x} at column {u.start + 1} is not valid UTF-8 text"
    if not raw.endswith(b"\n"):
        return f"truncated final line (no newline at end of file, JSON incomplete): {e}"
    return f"malformed JSON: {e}"


# ---- JSON array ------------------------------------------------------------------------

# Structural bytes of JSON; everything else is skipped by the regex engine, in C.
_TOKENS = re.compile(rb'[{}\[\]"\\\n]')
_GAP = re.compile(rb"\s*,?\s*")


def _iter_json_array(
    path: str, prog: list[int], fast: Callable[[bytes], Any] | None = None
) -> Iterator[SourceRecord]:
    if os.path.getsize(path) == 0:
        raise DataError("empty file: expected a JSON array", path=path, line=1)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        bom = len(_BOM) if mm[: len(_BOM)] == _BOM else 0
        first = re.compile(rb"\s*").match(mm, bom).end()  # type: ignore[union-attr]
        if mm[first : first + 1] != b"[":
            raise DataError("expected a JSON array ('[' at the start of the file)", path=path, line=1)
        line = 1 + mm[:first].count(b"\n")
        depth = 0
        in_str = False
        skip_to = -1  # position after an escaped character inside a string
        start = -1  # start of the element in progress
        start_line = 0
        item = 0
        prev_end = first + 1  # end of the previous element (or of '[')
        for m in _TOKENS.finditer(mm):
            i = m.start()
            if i < skip_to:
                continue
            c = mm[i]
            if c == 0x0A:
                line += 1
            elif in_str:
                if c == 0x5C:  # backslash: the next byte is escaped
                    skip_to = i + 2
                elif c == 0x22:
                    in_str = False
            elif c == 0x22:
                in_str = True
            elif c in (0x7B, 0x5B):  # { [
                depth += 1
                if depth == 2 and c == 0x7B:
                    gap = mm[prev_end:i]
                    if _GAP.fullmatch(gap) is None:
                        raise DataError(
                            f"expected an object in the array, found {gap.strip()[:40]!r}", path=path, line=line
                        )
                    start, start_line = i, line
                elif depth == 2:
                    raise DataError("array elements must be objects, found a nested array", path=path, line=line)
            elif c in (0x7D, 0x5D):  # } ]
                depth -= 1
                if depth == 1 and c == 0x7D and start >= 0:
                    raw = mm[start : i + 1]
                    prog[0] = i + 1
                    prev_end = i + 1
                    start = -1
                    if fast is not None:
                        rec = fast(raw)
                        if rec is not None:
                            yield SourceRecord(start_line, None, None, raw, rec, item)
                            item += 1
                            continue
                    try:
                        value = orjson.loads(raw)
                    except orjson.JSONDecodeError as e:
                        yield SourceRecord(start_line, None, _json_error(raw + b"\n", e), raw, item=item)
                    else:
                        yield SourceRecord(start_line, value, None, raw, item=item)
                    item += 1
                elif depth == 0:
                    prog[0] = len(mm)
                    return
                elif depth < 0:
                    raise DataError("unbalanced ']' or '}' in JSON array", path=path, line=line)
        if start >= 0:
            raise DataError(
                "truncated JSON array: the file ends inside an element", path=path, line=start_line
            )
        raise DataError("truncated JSON array: the file ends before the closing ']'", path=path, line=line)


# ---- Parquet ---------------------------------------------------------------------------

# Rows per Arrow batch: big enough to amortise the C++ call, small enough that a batch of
# long agent trajectories stays a few MB.
PARQUET_READ_BATCH = 512


def _iter_parquet(path: str, prog: list[int], batch_rows: Any = None) -> Iterator[SourceRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # No pre-buffering and no reader threads: both read ahead whole row groups, which
        # costs ~70 MB of peak RSS on a 1M-step file for no gain in a row-by-row consumer.
        pf = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowException) as e:  # ArrowInvalid for a bad file, OSError for a missing one
        raise DataError(f"not a readable Parquet file: {e}", path=path) from None

    row = 0
    batches = pf.iter_batches(batch_size=PARQUET_READ_BATCH, use_threads=False)
    while True:
        try:
            batch = next(batches, None)
            if batch is None:
                return
            values = batch.to_pylist() if batch_rows is None else batch_rows(batch)
        except DataError as e:
            raise e.located(path=path, line=row + 1) from None
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"unreadable Parquet data: {e}", path=path, line=row + 1) from None
        for value in values:
            row += 1
            prog[0] = row
            yield SourceRecord(row, value)
