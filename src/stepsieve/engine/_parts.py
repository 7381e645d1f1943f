"""The parts of a sharded job: one append-only part per shard in ``OUT.parts/``, merged into OUT.

Why this shape: on a cluster many workers write at once, and a single append-only file
cannot take their batches in input order. So each shard writes its own part with the local
engine's rule (``grade_into`` + ``scan_done``: a batch is fsync'ed before the next, a rerun
skips what is written, a cut last line is redone), and when every shard is done the parts
are appended to OUT in shard order. Shards are consecutive runs of the *pending* records
(input order, minus what OUT already holds), so the merged OUT equals an uninterrupted local
run line for line; a shard holds whole local batches (``shard_size`` is a multiple of
``batch_size``), so graders that share work inside a batch write the same labels.

``plan.json`` pins what the shard boundaries depend on (grader hash, shard and batch size,
limit) and OUT's size when the shards were planned. While the parts exist, only the merge
writes to OUT; a merge cut short is undone on the next run by cutting OUT back to that size
(its own bytes only), and a ``merged`` marker says the parts are in OUT and only the clean-up
was cut.

Nothing here imports Ray: the layout is testable, and usable by any scheduler.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stepsieve._errors import ConfigError, DataError
from stepsieve.engine._resume import dropped_path, scan_done

__all__ = ["Parts", "parts_dir", "prepare_parts"]

_PLAN_VERSION = 1


def parts_dir(out: str | Path) -> Path:
    """Where the shards of a job writing ``out`` keep their parts."""
    return Path(f"{out}.parts")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Parts:
    """The parts of one sharded job (see the module docstring)."""

    out: Path
    plan: dict[str, Any]

    @property
    def dir(self) -> Path:
        return parts_dir(self.out)

    @property
    def shard_size(self) -> int:
        return int(self.plan["shard_size"])

    @property
    def batch_size(self) -> int:
        return int(self.plan["batch_size"])

    def part(self, shard: int) -> Path:
        """Shard ``shard``'s part (its dropped records go to ``dropped_path(part)``)."""
        return self.dir / f"part-{shard:06d}.jsonl"

    def written(self) -> int:
        """Lines the parts hold now (progress of a resumed job before it starts)."""
        n = 0
        for p in self.dir.glob("part-*.jsonl"):
            if not p.name.endswith(".dropped.jsonl"):
                with open(p, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        n += chunk.count(b"\n")
        return n

    def merge(self, shards: int) -> None:
        """Append parts ``0..shards-1`` (and their dropped lists) to OUT in shard order, then
        remove the parts. Called once every shard has finished."""
        extra = sorted(p.name for p in self.dir.glob("part-*.jsonl")
                       if not p.name.endswith(".dropped.jsonl") and int(p.name[5:11]) >= shards)
        if extra:
            raise ConfigError(
                f"{self.dir} holds {', '.join(extra)} beyond this run's {shards} shards: it was written by a "
                "run over other input; delete the folder to start the sharded job over"
            )
        for target, part_of in ((self.out, self.part), (dropped_path(self.out), lambda k: dropped_path(self.part(k)))):
            paths = [p for p in (part_of(k) for k in range(shards)) if p.exists() and p.stat().st_size]
            if not paths and target != self.out:
                continue
            with open(target, "ab") as fh:
                for p in paths:
                    with open(p, "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 20)
                fh.flush()
                os.fsync(fh.fileno())
        marker = self.dir / "merged"
        marker.write_bytes(b"")
        _fsync_dir(self.dir)
        shutil.rmtree(self.dir)


def _load_plan(d: Path) -> dict[str, Any] | None:
    plan_path = d / "plan.json"
    if not plan_path.exists():
        return None
    try:
        plan = orjson.loads(plan_path.read_bytes())
    except orjson.JSONDecodeError:
        raise DataError("the sharded job's plan is not valid JSON; delete the folder to start over",
                        path=str(plan_path)) from None
    if not isinstance(plan, dict) or plan.get("version") != _PLAN_VERSION:
        raise DataError("not a plan this version of stepsieve wrote", path=str(plan_path))
    return plan


def prepare_parts(
    out: Path, grader: str, config_hash: str, *, shard_size: int, batch_size: int, limit: int | None,
    stamp: Callable[[dict], str | None] | None = None,
) -> tuple[Parts, Counter[str], str | None]:
    """Set up (or pick up) the parts of a job writing ``out``.

    Returns the parts, the ids OUT already accounts for (with multiplicity) and a note for
    the user when a resumed job keeps the shard size of the run it resumes.
    """
    d = parts_dir(out)
    if (d / "merged").exists():  # the last run merged its parts and was cut while removing them
        shutil.rmtree(d)
    plan = _load_plan(d)
    note = None
    if plan is not None:
        if (plan["grader"], plan["hash"]) != (grader, config_hash):
            raise ConfigError(
                f"{d} holds parts of grader {plan['grader']!r} (hash {plan['hash']}), this run is {grader!r} "
                f"(hash {config_hash}); write to a new output file, or delete the folder"
            )
        if plan.get("limit") != limit:
            raise ConfigError(f"{d} holds parts of a run with --limit {plan.get('limit')}, this run has {limit}: "
                              "the shards would not line up; use the same limit, or delete the folder")
        # A merge cut short appended some parts' bytes: OUT past its planned size is ours to cut.
        for path, base in ((out, int(plan["base"])), (dropped_path(out), int(plan["base_dropped"]))):
            size = _size(path)
            if size < base:
                raise DataError(
                    f"shorter ({size} bytes) than when its sharded job was planned ({base} bytes): it was "
                    f"changed while {d} existed; delete that folder and re-run", path=str(path)
                )
            if size > base:
                with open(path, "r+b") as fh:
                    fh.truncate(base)
                    os.fsync(fh.fileno())
        if (int(plan["shard_size"]), int(plan["batch_size"])) != (shard_size, batch_size):
            note = (f"resuming the sharded job in {d} with its shard size {plan['shard_size']} and batch size "
                    f"{plan['batch_size']} (the shard boundaries must not move)")
    done = scan_done(out, grader, config_hash, stamp)  # cuts a partial last line of a killed local run
    if plan is None:
        plan = {"version": _PLAN_VERSION, "grader": grader, "hash": config_hash, "shard_size": shard_size,
                "batch_size": batch_size, "limit": limit, "base": _size(out), "base_dropped": _size(dropped_path(out))}
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / "plan.json.tmp"
        tmp.write_bytes(orjson.dumps(plan, option=orjson.OPT_INDENT_2))
        os.replace(tmp, d / "plan.json")
        _fsync_dir(d)
    return Parts(out, plan), done, note
