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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from stepsieve._errors import BackendError, ConfigError, OutputError
from stepsieve.engine._resume import dropped_path, scan_done
from stepsieve.graders import Grader, config_hash
from stepsieve.media import MediaCarrier
from stepsieve.trajectory import Trajectory

__all__ = ["JobStats", "grade_into", "open_input", "pending_records", "run_grading"]


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


def open_input(src: str | Path, fmt: str, on_error: str, out: Path) -> Any:
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


def _write_batch(fh: IO[bytes], records: list[bytes], kept: int) -> None:
    """Append whole lines and fsync. When the disk is full the file is cut back to its last
    whole line (truncating needs no space) and OutputError says what is kept."""
    if not records:
        return
    start = fh.seek(0, os.SEEK_END)
    try:
        fh.write(b"".join(records))
        fh.flush()
        os.fsync(fh.fileno())
    except OSError as e:
        try:
            fh.truncate(start)
            os.fsync(fh.fileno())
        except OSError:
            pass  # the resume scan cuts a partial last line as well
        raise OutputError.from_os(
            e, fh.name, f"the {kept} records written before this batch are kept (every line whole); "
            "free space and re-run the same command to resume",
        ) from None


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
    t0 = time.perf_counter()
    done = scan_done(out, grader.name, config_hash(grader.name, grader.config), stamp)
    stats = JobStats()
    reader, sink = open_input(src, fmt, on_error, out)
    try:
        pending = pending_records(reader, done, stats, limit)
        grade_into(grader, pending, out, stats, batch_size=batch_size, source=src,
                   on_batch=None if on_batch is None else lambda s: on_batch(s, reader))
    finally:
        if sink is not None:
            sink.close()
    stats.rejected = reader.rejected
    stats.read = reader.read
    stats.seconds = time.perf_counter() - t0
    return stats


def grade_into(
    grader: Grader,
    records: Iterable[Trajectory],
    out: Path,
    stats: JobStats,
    *,
    batch_size: int,
    source: str | Path | None = None,
    media_for: Path | None = None,
    on_batch: Callable[[JobStats], None] | None = None,
) -> None:
    """Grade ``records`` (already known not to be in ``out``) into ``out`` in batches, each
    flushed and fsync'ed before the next. The one writing loop of both engines: the Ray
    engine runs it per shard, with the shard's own part as ``out`` and the job's output as
    ``media_for`` (images go to the store beside the final OUT, referenced from there).
    ``source`` is the input file, which relative image paths resolve against."""
    h = config_hash(grader.name, grader.config)
    out.parent.mkdir(parents=True, exist_ok=True)
    media = MediaCarrier(source, media_for or out)  # images of the labelled copies live beside OUT
    drop_fh: IO[bytes] | None = None
    try:
        with open(out, "ab") as fh:
            for batch in _chunks(records, batch_size):
                wanted = Counter(t.id for t in batch)
                lines = []
                try:
                    for g in grader.grade(batch):
                        wanted[g.id] -= 1
                        lines.append(orjson.dumps(media.carry(g).to_dict(), option=orjson.OPT_APPEND_NEWLINE))
                except BackendError as e:
                    raise _stopped(e, batch, stats, out) from e
                _write_batch(fh, lines, stats.already_done + stats.graded)
                stats.graded += len(lines)
                missing = [i for i, c in wanted.items() for _ in range(c) if c > 0]
                if missing:
                    if drop_fh is None:
                        # opened on the first dropped record only; closed in the finally below
                        drop_fh = open(dropped_path(out), "ab")  # noqa: SIM115
                    _write_batch(
                        drop_fh,
                        [orjson.dumps({"id": i, "hash": h}, option=orjson.OPT_APPEND_NEWLINE) for i in missing],
                        stats.dropped,
                    )
                    stats.dropped += len(missing)
                if on_batch is not None:
                    on_batch(stats)
    finally:
        if drop_fh is not None:
            drop_fh.close()


def _stopped(e: BackendError, batch: list[Trajectory], stats: JobStats, out: Path) -> BackendError:
    """The backend's error, saying which records it left ungraded (the batch in flight, by id)
    and what is kept: the user knows exactly what failed and that a re-run finishes it."""
    ids = [t.id for t in batch]
    shown = ", ".join(ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
    kept = stats.already_done + stats.graded
    err = type(e)(
        f"not graded: trajectories {shown}: {e}. {kept} graded records in {out} are kept; "
        "re-run the same command to grade the rest",
        backend=e.backend, url=e.url,
    )
    err.records = ids  # type: ignore[attr-defined]
    return err


def pending_records(reader: Iterable[Trajectory], done: Counter[str], stats: JobStats,
             limit: int | None) -> Iterator[Trajectory]:
    """The input records not yet accounted for in the output, in input order (an id written
    k times skips its first k occurrences)."""
    for seen, t in enumerate(reader, 1):
        if done[t.id] > 0:
            done[t.id] -= 1
            stats.already_done += 1
        else:
            yield t
        if limit is not None and seen >= limit:
            break


def _chunks(records: Iterable[Trajectory], size: int) -> Iterator[list[Trajectory]]:
    batch: list[Trajectory] = []
    for t in records:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
