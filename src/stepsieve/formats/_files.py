"""Formats that read a whole file (or a folder) themselves: ``FileFormat``.

Most formats map one record of a container (a JSONL line, a JSON array element, a Parquet
row) to one Trajectory. Agent logs are often not like that: a Claude Code session is a JSONL
file whose *lines are events* of one trajectory, a SWE-agent ``.traj`` is one pretty-printed
JSON document, an OpenHands v1 conversation is a folder with one JSON file per event. A
format that says how its files split into records implements ``iter_records``; the Reader
then takes its records from there instead of from a container, and everything else (the
error policy, rejects, counting, ``read == written + rejected``) works unchanged: each
``SourceRecord`` it yields is one record, either a value for ``decode`` or an error.

``DocumentFormat`` is the common case: the file is one JSON document (or a JSONL stream of
documents, one a line), and ``split(doc)`` says which records a document holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from stepsieve._errors import DataError
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import SourceRecord, iter_source

__all__ = ["DocumentFormat", "FileFormat", "existing_path", "path_size"]


@runtime_checkable
class FileFormat(Protocol):
    """A format that reads ``path`` (a file, or a folder where the format allows one) into
    records itself. ``progress[0]`` is kept at the bytes consumed, for progress bars."""

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]: ...


def existing_path(path: str | Path, *, folder: bool = False) -> str:
    """``path`` as a string; DataError when it does not exist, or is a folder and ``folder``
    is False."""
    p = str(path)
    if not os.path.exists(p):
        raise DataError("no such file", path=p)
    if os.path.isdir(p) and not folder:
        raise DataError("is a directory, not a file", path=p)
    return p


def path_size(path: str | Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    p = str(path)
    if not os.path.isdir(p):
        return os.path.getsize(p) if os.path.exists(p) else 0
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)


def load_document(path: str) -> tuple[bytes, Any]:
    """The bytes and parsed value of a whole JSON file; DataError naming the line when it is
    not JSON."""
    data = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        return data, orjson.loads(data)
    except orjson.JSONDecodeError as e:
        if not data.strip():
            raise DataError("empty file: expected a JSON document", path=path, line=1) from None
        line = data[: e.pos].count(b"\n") + 1
        raise DataError(f"malformed JSON document: {e.msg}", path=path, line=line) from None


# What splitting a document of an unexpected layout raises (a list where an id belongs...):
# a bad record, reported with its line, never a traceback (found by the property tests).
_LAYOUT_ERRORS = (TypeError, KeyError, IndexError, AttributeError, ValueError)


def _layout_error(fmt: Any, e: Exception) -> str:
    return f"unexpected {getattr(fmt, 'name', 'document')} layout ({type(e).__name__}: {e})"


class DocumentFormat(RecordFormat):
    """Base of formats whose file is one JSON document, or JSONL with one document a line.

    ``split(doc)`` yields the records one document holds (default: the document itself, so
    a file is one trajectory). A folder is an error unless a subclass overrides
    ``iter_folder``.
    """

    def split(self, doc: Any) -> Iterable[Any]:
        return (doc,)

    def iter_folder(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        raise DataError(f"is a directory; {self.name} reads a file", path=path)

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        p = existing_path(path, folder=True)
        if os.path.isdir(p):
            yield from self.iter_folder(p, progress)
            return
        if _looks_like_jsonl(p):
            for rec in iter_source(p, "jsonl", progress):
                if rec.error is not None:
                    yield rec
                    continue
                try:
                    values = list(self.split(rec.value))
                except _LAYOUT_ERRORS as e:
                    yield SourceRecord(rec.line, None, error=_layout_error(self, e), raw=rec.raw)
                    continue
                for item, value in enumerate(values):
                    yield SourceRecord(rec.line, value, raw=rec.raw if item == 0 else None)
            return
        data, doc = load_document(p)
        progress[0] = len(data)
        try:
            parts = list(self.split(doc))
        except _LAYOUT_ERRORS as e:
            yield SourceRecord(1, None, error=_layout_error(self, e), raw=data)
            return
        for i, value in enumerate(parts):
            yield SourceRecord(
                1, value, raw=data if len(parts) == 1 else None, item=i if len(parts) > 1 else None
            )


def _looks_like_jsonl(path: str) -> bool:
    """JSONL when the first line is a whole JSON value and another value follows it."""
    with open(path, "rb") as fh:
        first = fh.readline().removeprefix(b"\xef\xbb\xbf")
        rest = fh.read(1 << 16).lstrip()
    if not rest:
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return rest[:1] in (b"{", b"[")
