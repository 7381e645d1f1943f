"""Streaming readers and writers of canonical Trajectory files (JSONL and Parquet).

A file is never loaded whole: readers yield one record at a time, writers append.
The format is chosen by suffix: ``.jsonl`` / ``.json`` lines, ``.parquet``.

(Initial version: the formats issue hardens error handling, rejects and speed.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from stepsieve._errors import DataError
from stepsieve.trajectory._record import Trajectory

__all__ = ["read_trajectories", "write_trajectories"]


def read_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Yield the Trajectory records of a canonical JSONL file, one at a time."""
    p = str(path)
    with open(p, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                raise DataError(f"malformed JSON: {e}", path=p, line=lineno) from None
            try:
                yield Trajectory.from_dict(obj)
            except DataError as e:
                raise e.located(path=p, line=lineno) from None


def write_trajectories(trajectories: Iterable[Trajectory], path: str | Path) -> int:
    """Write records to a canonical JSONL file; returns how many were written."""
    n = 0
    with open(path, "wb") as fh:
        for t in trajectories:
            fh.write(orjson.dumps(t.to_dict()))
            fh.write(b"\n")
            n += 1
    return n
