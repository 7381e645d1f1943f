"""Run manifests: a JSON file beside every output saying exactly how it was made.

``<output>.manifest.json`` records the inputs (path, size, sha256), the labels read, the
resolved options, the counts (records in, out and rejected, plus verb-specific counts) and
the stepsieve version, so any dataset can be traced back to its source and rebuilt. Every
verb that writes a file writes one through ``write_manifest``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from stepsieve._version import __version__

__all__ = ["file_sha256", "manifest_path", "read_manifest", "write_manifest"]

SUFFIX = ".manifest.json"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in chunks (inputs can be larger than memory). A folder
    (an input some formats read whole, e.g. one JSON file per event) hashes each file's
    relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def manifest_path(output: str | Path) -> Path:
    """Where the manifest of ``output`` lives: the same path with ``.manifest.json`` added."""
    return Path(str(output) + SUFFIX)


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return repr(v)


def write_manifest(
    output: str | Path,
    *,
    verb: str,
    inputs: Iterable[str | Path],
    labels: Iterable[str] = (),
    options: Any = None,
    counts: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``<output>.manifest.json`` and return its path.

    ``counts`` should hold ``in``, ``out`` and ``rejected`` (records read, records that went
    through, records dropped with a reason) plus anything verb-specific (rows written...).
    """
    out = Path(output)
    doc = {
        "stepsieve_version": __version__,
        "verb": verb,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "argv": list(sys.argv),
        "inputs": [{"path": str(p), "bytes": os.path.getsize(p), "sha256": file_sha256(p)} for p in inputs],
        "output": {"path": str(out), "bytes": os.path.getsize(out) if out.exists() else None},
        "labels": sorted(set(labels)),
        "options": _jsonable(options),
        "counts": _jsonable(dict(counts or {})),
    }
    if extra:
        doc["extra"] = _jsonable(dict(extra))
    mp = manifest_path(out)
    mp.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    return mp


def read_manifest(output_or_manifest: str | Path) -> dict[str, Any]:
    """Load the manifest of an output (pass the output path or the manifest path itself)."""
    p = Path(output_or_manifest)
    if not str(p).endswith(SUFFIX):
        p = manifest_path(p)
    return orjson.loads(p.read_bytes())
