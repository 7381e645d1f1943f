"""What a previous run already wrote: the resume scan of an append-only output file.

An output line is one graded Trajectory. Its key is (trajectory id, hash of the grader's
configuration), the hash read from the labels the grader wrote. A kill can leave at most
one partial line at the end (the record being written); the scan cuts it off so the run
redoes that record. A bad line anywhere else is real corruption and is reported with its
line number.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

from stepsieve._errors import ConfigError, DataError

__all__ = ["dropped_path", "scan_done"]


def dropped_path(out: str | Path) -> Path:
    """Side file listing trajectories a filtering grader (consensus) chose not to keep."""
    return Path(f"{out}.dropped.jsonl")


def _label_hash(rec: dict, name: str) -> str | None:
    for s in rec.get("steps") or ():
        lab = (s.get("labels") or {}).get(name)
        if lab is not None:
            return (lab.get("grader") or {}).get("hash")
    return None


Stamp = Callable[[dict], "str | None"]


def _scan(path: Path, name: str, want: str, kind: str, stamp: Stamp | None = None) -> Counter[str]:
    """Count ids already written under this configuration; truncate a partial last line."""
    done: Counter[str] = Counter()
    if not path.exists():
        return done
    with open(path, "rb") as fh:
        data = fh.read()
    good_end = 0
    pos = 0
    lineno = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        lineno += 1
        last = nl == -1
        raw = data[pos:] if last else data[pos:nl]
        try:
            rec = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            if last or data[nl + 1 :].strip() == b"":
                break  # the record in flight when the run was killed: cut it, redo it
            raise DataError("malformed JSON in the middle of an output file", path=str(path), line=lineno) from None
        if last:
            break  # complete JSON but no newline: the write was cut; redo it to keep lines whole
        if rec is not None:
            tid = rec.get("id")
            got = rec.get("hash") if kind == "dropped" else (stamp or (lambda r: _label_hash(r, name)))(rec)
            if got is not None and got != want:
                raise ConfigError(
                    f"{path}:{lineno}: written by grader {name!r} with another configuration "
                    f"(hash {got}, this run {want}); write to a new output file"
                )
            done[str(tid)] += 1
        good_end = nl + 1
        pos = nl + 1
    if good_end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(good_end)
            os.fsync(fh.fileno())
    return done


def scan_done(out: str | Path, name: str, config_hash: str, stamp: Stamp | None = None) -> Counter[str]:
    """Ids (with multiplicity) that ``out`` and its dropped side file already account for.
    ``stamp(record) -> hash`` reads the configuration hash a job wrote into a record (default:
    the hash of the labels named ``name``; ``stepsieve augment`` stamps ``meta.augment``)."""
    done = _scan(Path(out), name, config_hash, "output", stamp)
    done.update(_scan(dropped_path(out), name, config_hash, "dropped"))
    return done
