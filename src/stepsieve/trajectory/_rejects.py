"""The quarantine file for bad input records (``--on-error skip``).

Nothing is silently dropped: every record a reader cannot turn into a Trajectory (or a
writer cannot express in its target format) goes to ``<out>.rejected.jsonl``, one JSON
object a line::

    {"file": "in.jsonl", "line": 7, "reason": "malformed JSON: ...", "raw": "<the line>"}

``raw`` is the original record text unchanged (the JSONL line without its newline, the
exact source text of a JSON-array element, or for a Parquet row its JSON rendering).
Bytes that are not valid UTF-8 cannot live in a JSON string, so for such a line ``raw``
holds the text decoded with U+FFFD replacement characters (readable) and ``raw_base64``
holds the exact original bytes (lossless): ``base64.b64decode(rec["raw_base64"])`` gives the
line back byte for byte.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import IO

import orjson

__all__ = ["RejectSink", "rejects_path"]


def rejects_path(out: str | Path) -> Path:
    """Where the rejects of a command writing ``out`` go: ``<out>.rejected.jsonl``."""
    return Path(f"{out}.rejected.jsonl")


class RejectSink:
    """Appends rejected records to a JSONL side file; opens it only on the first reject.

    Opening lazily means a clean run leaves no empty side file behind, so the presence of
    the file alone tells a user that something was rejected.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._fh: IO[bytes] | None = None

    def write(self, file: str | None, line: int | None, reason: str, raw: bytes | str | None) -> None:
        """Record one rejected record: where it came from, why, and its original text."""
        rec: dict[str, object] = {"file": file, "line": line, "reason": reason}
        if isinstance(raw, bytes):
            raw = raw.rstrip(b"\r\n")
            try:
                rec["raw"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                rec["raw"] = raw.decode("utf-8", errors="replace")
                rec["raw_base64"] = base64.b64encode(raw).decode("ascii")
        else:
            rec["raw"] = raw
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")  # noqa: SIM115 - held until close()
        self._fh.write(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE))
        self.count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RejectSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
