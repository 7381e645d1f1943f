"""The Ray engine: the same grading job spread over a Ray cluster, one part per shard.

Why Ray core (actors), not Ray Data: a grader is expensive to build (it loads a model or
opens a connection pool) and cheap to call per batch, so it lives in a long-lived actor that
grades shard after shard; the shards are ours (``_parts``) because their boundaries must line
up with the local engine's batches and survive a restart, so that a rerun resumes and the
merged output equals a local run. Ray Data would re-block the records as Arrow tables (our
records are nested, the labels free-form), choose its own block boundaries, and add a
streaming executor whose start-up alone outweighs a small job; see docs/scale.md.

The driver never builds the grader (a model may need a GPU the head node lacks): it asks the
first worker for the grader's name and configuration hash. It reads the input once, skips what
OUT already holds, cuts the rest into shards of ``shard_size`` records and keeps at most two
shards queued per worker, so memory stays bounded whatever the input size. A worker that dies
is restarted by Ray and its shard retried; the retry skips what the part already holds, so a
kill loses at most the batch in flight. A shard that fails for good stops the job once the
other shards in flight finish; their parts stay, and the same command resumes.

This module imports Ray; nothing imports it but ``run_grading_ray`` callers, lazily.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import ray

from stepsieve._errors import ConfigError, StepsieveError
from stepsieve.backends import Budget
from stepsieve.engine._job import JobStats, grade_into, open_input, pending_records
from stepsieve.engine._parts import prepare_parts
from stepsieve.engine._resume import scan_done
from stepsieve.graders import Grader, config_hash
from stepsieve.trajectory import Trajectory, decode_json, encode_json

__all__ = ["RayOptions", "run_grading_ray"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a sharded job runs."""

    address: str | None = None  # a cluster to join ("auto", "ray://host:10001"); None: $RAY_ADDRESS or a local one
    actors: int | None = None  # workers, each holding one grader; None: as many as the cluster's CPUs (GPUs) allow
    num_cpus: float = 1.0  # CPUs reserved per worker
    num_gpus: float = 0.0  # GPUs reserved per worker (an in-process model on a GPU)
    shard_size: int | None = None  # records per shard, a multiple of the batch size; None: 8 batches
    max_restarts: int = 3  # times Ray restarts a dead worker and retries its shard (0: fail at once)

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise ConfigError(f"--actors must be at least 1, got {self.actors}")
        if self.num_cpus < 0 or self.num_gpus < 0:
            raise ConfigError("--num-cpus-per-actor and --num-gpus-per-actor cannot be negative")
        if self.shard_size is not None and self.shard_size < 1:
            raise ConfigError(f"--shard-size must be at least 1, got {self.shard_size}")
        if self.max_restarts < 0:
            raise ConfigError("max_restarts cannot be negative")


class _Worker:
    """One Ray actor: builds the grader once, then grades shards into their parts.

    With a job budget (``keeper``), the grader is built with ``make_grader(budget=...)``: its
    backend charges the job's one budget (``_ray_budget``), not one of its own."""

    def __init__(self, make_grader: Callable[..., Grader], keeper: Any = None,
                 stamp: Callable[[dict], str | None] | None = None) -> None:
        if keeper is not None:
            from stepsieve.engine._ray_budget import SharedBudget

            self.grader = make_grader(budget=SharedBudget(keeper))
        else:
            self.grader = make_grader()
        self.hash = config_hash(self.grader.name, self.grader.config)
        self.stamp = stamp

    def describe(self) -> tuple[str, str, Any]:
        return self.grader.name, self.hash, getattr(self.grader, "config", None)

    def grade_shard(self, part: str, blob: bytes, batch_size: int, src: str, out: str) -> dict[str, Any]:
        """The local engine's loop on one shard: skip what ``part`` holds, grade the rest.

        The shard travels as canonical JSON lines and is decoded here exactly as the local
        reader decodes a file (a pickled record can encode differently: msgspec leaves out a
        default only when it is the very default object)."""
        records = [decode_json(raw) or Trajectory.from_dict(orjson.loads(raw)) for raw in blob.split(b"\n")]
        path = Path(part)
        done = scan_done(path, self.grader.name, self.hash, self.stamp)
        stats = JobStats()
        grade_into(self.grader, pending_records(records, done, stats, None), path, stats, batch_size=batch_size,
                   source=src, media_for=Path(out))
        return stats.to_dict()

    def counts(self) -> dict[str, int]:
        """What the grader counted (skipped prompts, images sent, rejected thoughts...)."""
        return dict(getattr(self.grader, "counts", None) or {})

    def summary(self) -> dict[str, Any] | None:
        be = getattr(self.grader, "backend", None)
        if be is None:
            return None
        return be.summary() if hasattr(be, "summary") else {"backend": be.name, **be.cost.to_dict()}


def _connect(address: str | None) -> bool:
    """Join (or start) a cluster; True when this call connected (and must disconnect: that
    also stops a local cluster it started, never a cluster it joined)."""
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {}
    if address == "local":  # a private cluster on this machine: bind it to the loopback only
        kw["_node_ip_address"] = "127.0.0.1"
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, **kw)
    return True


def _workers(opts: RayOptions) -> int:
    res = ray.cluster_resources()
    cpus, gpus = float(res.get("CPU", 0)), float(res.get("GPU", 0))
    fits = [int(cpus // opts.num_cpus) if opts.num_cpus else 10**6,
            int(gpus // opts.num_gpus) if opts.num_gpus else 10**6]
    n = opts.actors if opts.actors is not None else max(1, min(fits))
    if n * opts.num_cpus > cpus or n * opts.num_gpus > gpus:
        raise ConfigError(
            f"the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs; {n} workers × {opts.num_cpus:g} CPUs and "
            f"{opts.num_gpus:g} GPUs each do not fit (they would wait for resources forever): lower --actors "
            "or the per-actor resources"
        )
    return n


def _shards(records: Iterable[Trajectory], size: int) -> Iterator[list[Trajectory]]:
    shard: list[Trajectory] = []
    for t in records:
        shard.append(t)
        if len(shard) == size:
            yield shard
            shard = []
    if shard:
        yield shard


def _cause(err: BaseException) -> BaseException:
    """The worker's own exception inside Ray's wrapper, when there is one."""
    cause = getattr(err, "cause", None)
    return cause if isinstance(cause, BaseException) else err


def run_grading_ray(
    make_grader: Callable[..., Grader],
    src: str | Path,
    out: str | Path,
    *,
    ray_options: RayOptions | None = None,
    fmt: str = "stepsieve",
    batch_size: int = 16,
    on_error: str = "raise",
    limit: int | None = None,
    on_progress: Callable[[JobStats, Any], None] | None = None,
    on_note: Callable[[str], None] | None = None,
    budget: Budget | None = None,
    stamp: Callable[[dict], str | None] | None = None,
) -> tuple[JobStats, dict[str, Any]]:
    """:func:`~stepsieve.engine.run_grading` on a Ray cluster; the same output, line for line.

    ``make_grader`` builds the grader inside each worker (it must pickle: a module-level
    function or a ``functools.partial`` of one). Returns the job's counts and what the driver
    learnt from the workers: ``{"grader", "hash", "config", "workers", "shards", "backends"}`` (each
    worker's backend summary), ``counts`` (what the graders counted, added up) and
    ``startup_s`` (until every worker had built its grader).
    ``src`` and ``out`` must be on a file system every node sees.

    ``budget`` (``--max-cost``) is one budget for the whole job, held by one actor that every
    worker's backend charges; ``make_grader`` is then called with ``budget=`` (a stand-in for a
    :class:`~stepsieve.backends.Budget`) and must hand it to its backend. When a worker runs
    out, its shard fails with BudgetExceeded: the job stops as any failed shard stops it (what
    is written kept, the same command resumes) and ``info["budget"]`` says what was spent.
    ``stamp`` reads the configuration hash a job writes into a record when that is not a label
    (``stepsieve augment``), as in :func:`~stepsieve.engine.run_grading`.
    """
    opts = ray_options or RayOptions()
    out = Path(out).absolute()
    if out.suffix.lower() not in (".jsonl", ".ndjson"):
        raise ConfigError(f"{out}: a grading output is append-only JSONL; name it *.jsonl")
    if batch_size < 1:
        raise ConfigError("batch_size must be at least 1")
    shard_size = opts.shard_size if opts.shard_size is not None else 8 * batch_size
    if shard_size % batch_size:
        raise ConfigError(f"--shard-size {shard_size} must be a multiple of --batch-size {batch_size}, so that "
                          "shards grade the same batches as the local engine (and write the same labels)")
    src_abs = Path(src).absolute()
    t0 = time.perf_counter()
    started = _connect(opts.address)
    actors: list[Any] = []
    keeper = None  # the job's budget actor, when there is a budget
    try:
        n = _workers(opts)
        remote = ray.remote(_Worker).options(
            num_cpus=opts.num_cpus, num_gpus=opts.num_gpus, max_restarts=opts.max_restarts,
            max_task_retries=opts.max_restarts,
        )
        if budget is not None:
            from stepsieve.engine._ray_budget import start_keeper

            keeper = start_keeper(budget)
        t_start = time.perf_counter()
        actors = [remote.remote(make_grader, keeper, stamp) for _ in range(n)]
        described = ray.get([a.describe.remote() for a in actors])  # every worker up, its grader built
        startup = time.perf_counter() - t_start
        name, h, config = described[0]
        if any(d[:2] != (name, h) for d in described):
            raise ConfigError(f"the workers built different graders: {sorted({d[:2] for d in described})}")
        parts, done, note = prepare_parts(out, name, h, shard_size=shard_size, batch_size=batch_size, limit=limit,
                                          stamp=stamp)
        if note and on_note is not None:
            on_note(note)
        stats = JobStats()
        reader, sink = open_input(src, fmt, on_error, out)
        try:
            shards = _shards(pending_records(reader, done, stats, limit), parts.shard_size)
            def call(actor: Any, k: int, shard: list[Trajectory]) -> Any:
                blob = b"\n".join(encode_json(t) for t in shard)
                return actor.grade_shard.remote(str(parts.part(k)), blob, parts.batch_size, str(src_abs), str(out))

            def on_done(got: dict[str, Any]) -> None:
                stats.already_done += got["already_done"]
                stats.graded += got["graded"]
                stats.dropped += got["dropped"]
                if on_progress is not None:
                    on_progress(stats, reader)

            n_shards = _schedule(actors, shards, call, on_done, parts.dir, lambda t: t.id)
        finally:
            if sink is not None:
                sink.close()
        parts.merge(n_shards)
        stats.read, stats.rejected = reader.read, reader.rejected
        summaries = [s for s in ray.get([a.summary.remote() for a in actors]) if s is not None]
        counts: Counter[str] = Counter()
        for c in ray.get([a.counts.remote() for a in actors]):
            counts.update(c)
        spent = ray.get(keeper.spent.remote()) if keeper is not None else None
    finally:
        for a in [*actors, *([keeper] if keeper is not None else [])]:
            ray.kill(a)
        if started:
            ray.shutdown()
    stats.seconds = time.perf_counter() - t0
    info = {"grader": name, "hash": h, "config": config, "workers": n, "shards": n_shards, "backends": summaries,
            "startup_s": startup, "counts": dict(counts)}
    if spent is not None:
        info["budget"] = spent
    return stats, info


def _schedule(actors: list[Any], shards: Iterator[list[Any]], call: Callable[[Any, int, list[Any]], Any],
              on_done: Callable[[dict[str, Any]], None], where: Path, name: Callable[[Any], str]) -> int:
    """Keep every worker busy with at most two shards queued; returns the number of shards.

    ``call(actor, k, shard)`` starts shard ``k`` on a worker and returns its object ref;
    ``on_done`` gets each finished shard's counts. A shard that fails stops new work; the
    others in flight finish (their parts kept), then the first failure is raised, naming the
    shard's first and last items (``name``)."""
    inflight: dict[Any, tuple[int, int, list[Any]]] = {}  # ref -> (shard, worker, items)
    failure: tuple[int, list[Any], BaseException] | None = None
    k = 0
    exhausted = False

    def submit(w: int) -> bool:
        nonlocal k, exhausted
        shard = next(shards, None)
        if shard is None:
            exhausted = True
            return False
        inflight[call(actors[w], k, shard)] = (k, w, shard)
        k += 1
        return True

    for w in range(len(actors)):
        for _ in range(2):
            if not submit(w):
                break
    while inflight:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        shard_no, w, shard = inflight.pop(ready[0])
        try:
            got = ray.get(ready[0])
        except Exception as e:  # noqa: BLE001 — a worker's error or death: reported below, after the rest finish
            if failure is None:
                failure = (shard_no, shard, _cause(e))
            continue
        on_done(got)
        if failure is None and not exhausted:
            submit(w)
    if failure is not None:
        shard_no, shard, err = failure
        ids = f"{name(shard[0])} … {name(shard[-1])}" if len(shard) > 1 else name(shard[0])
        msg = (f"shard {shard_no} ({len(shard)} records, {ids}) failed: {type(err).__name__}: {err}; what the "
               f"shards wrote is kept in {where}: re-run the same command to resume")
        raise StepsieveError(msg) from err
    return k
