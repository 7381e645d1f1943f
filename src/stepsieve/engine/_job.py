"""Resumable grading jobs: stream IN through a grader into an append-only OUT.

Why this shape: grading costs model calls, so a killed job must never pay twice. Records
are graded in batches (graders batch their model calls across a batch) and each finished
batch is flushed and fsync'ed before the next starts, so a crash loses at most the batch in
flight. Re-running the same command scans OUT, skips every trajectory already written with
the same grader configuration hash, and appends the rest — in input order, so a resumed
output equals an uninterrupted one line for line.

Trajectories a filtering grader does not return (consensus dropping a disagreement) are
listed in ``OUT.dropped.jsonl``: nothing disappears silently, and resume skips them too.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from stepsieve._errors import ConfigError
from stepsieve.engine._resume import dropped_path, scan_done
from stepsieve.graders import Grader, config_hash
from stepsieve.media import MediaCarrier
from stepsieve.trajectory import Trajectory

__all__ = ["JobStats", "run_grading"]


@dataclass(slots=True)
class JobStats:
    """Counts of one run: ``read == already_done + graded + dropped + rejected``."""

    read: int = 0
    already_done: int = 0
    graded: int = 0
    dropped: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _open_input(src: str | Path, fmt: str, on_error: str, out: Path) -> Any:
    from stepsieve.formats import OnError, open_reader
    from stepsieve.trajectory import RejectSink, rejects_path

    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    mode: OnError = "skip" if on_error == "skip" else "raise"

    # Resume re-reads the input from the start, so the rejects side file is rebuilt whole.
    sink = RejectSink(rejects_path(out)) if on_error == "skip" else None
    if sink is not None and sink.path.exists():
        sink.path.unlink()
    return open_reader(src, fmt, on_error=mode, rejects=sink), sink


def _write_batch(fh: IO[bytes], records: list[bytes]) -> None:
    if records:
        fh.write(b"".join(records))
        fh.flush()
        os.fsync(fh.fileno())


def run_grading(
    grader: Grader,
    src: str | Path,
    out: str | Path,
    *,
    fmt: str = "stepsieve",
    batch_size: int = 16,
    on_error: str = "raise",
    limit: int | None = None,
    on_batch: Callable[[JobStats, Any], None] | None = None,
    stamp: Callable[[dict], str | None] | None = None,
) -> JobStats:
    """Grade ``src`` into ``out`` (canonical JSONL, appended), skipping what is written.

    ``on_batch(stats, reader)`` is called after every batch (progress bars). ``limit``
    stops after that many input records (handy for trying a grader on a few). ``grader`` is
    any job with ``name``, ``config`` and ``grade(batch)``; ``stamp(record) -> hash`` reads the
    configuration hash it wrote into an output record when that is not a label (augment).
    """
    out = Path(out)
    if out.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigError(f"{out}: a grading output is append-only JSONL; name it *.jsonl")
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    h = config_hash(grader.name, grader.config)
    done = scan_done(out, grader.name, h, stamp)
    stats = JobStats()
    t0 = time.perf_counter()
    reader, sink = _open_input(src, fmt, on_error, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    media = MediaCarrier(src, out)  # images of the labelled copies live beside OUT
    drop_fh: IO[bytes] | None = None
    try:
        with open(out, "ab") as fh:
            for batch in _batches(reader, done, stats, batch_size, limit):
                wanted = Counter(t.id for t in batch)
                lines = []
                for g in grader.grade(batch):
                    wanted[g.id] -= 1
                    lines.append(orjson.dumps(media.carry(g).to_dict(), option=orjson.OPT_APPEND_NEWLINE))
                _write_batch(fh, lines)
                stats.graded += len(lines)
                missing = [i for i, c in wanted.items() for _ in range(c) if c > 0]
                if missing:
                    if drop_fh is None:
                        # opened on the first dropped record only; closed in the finally below
                        drop_fh = open(dropped_path(out), "ab")  # noqa: SIM115
                    _write_batch(
                        drop_fh,
                        [orjson.dumps({"id": i, "hash": h}, option=orjson.OPT_APPEND_NEWLINE) for i in missing],
                    )
                    stats.dropped += len(missing)
                if on_batch is not None:
                    on_batch(stats, reader)
    finally:
        if drop_fh is not None:
            drop_fh.close()
        if sink is not None:
            sink.close()
    stats.rejected = reader.rejected
    stats.read = reader.read
    stats.seconds = time.perf_counter() - t0
    return stats


def _batches(
    reader: Any, done: Counter[str], stats: JobStats, size: int, limit: int | None
) -> Iterator[list[Trajectory]]:
    batch: list[Trajectory] = []
    for seen, t in enumerate(reader, 1):
        if done[t.id] > 0:
            done[t.id] -= 1
            stats.already_done += 1
        else:
            batch.append(t)
            if len(batch) == size:
                yield batch
                batch = []
        if limit is not None and seen >= limit:
            break
    if batch:
        yield batch
