"""``sample --engine ray``: a world's tasks cut into shards, each sampled by a Ray worker.

The driver draws the tasks exactly as the local ``sample`` does (``world.sample_tasks(n,
seed, **knobs)``: cheap, seeded), cuts them into shards of ``shard_size`` tasks and hands
them to workers that each hold the policy. A worker samples its shard in batches and appends
each finished batch to the shard's part (fsync'ed), skipping trajectories the part already
holds (ids are ``world:task:sSEED:j``, and sample j of a task is a function of the task, the
seed and j alone — the backend's determinism contract — so a redone batch writes the same
records). When every shard is done, the parts are written to OUT in shard order through
the same writer as the local verb (JSONL or Parquet by suffix), which writes a temporary
file renamed into place: a half-written OUT never looks complete. The same command resumes; the output
equals the local engine's.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import ray

from stepsieve._errors import ConfigError
from stepsieve.engine._parts import parts_dir
from stepsieve.engine._ray import RayOptions, _connect, _schedule, _workers
from stepsieve.engine._resume import scan_done

__all__ = ["run_sampling_ray"]


class _Sampler:
    """One Ray actor: holds the policy, samples shards of tasks into their parts."""

    def __init__(self, make_backend: Callable[[], Any]) -> None:
        self.backend = make_backend()

    def model(self) -> str:
        return str(getattr(self.backend, "model", "?"))

    def sample_shard(self, part: str, world: str, tasks: list[Any], seed: int, options: dict[str, Any]) -> dict:
        from stepsieve.media import MediaStore
        from stepsieve.sampling import sample
        from stepsieve.worlds import get_world

        w = get_world(world)
        # screens go to OUT's one media store: content-addressed, each file written to a temp
        # name and renamed, so workers on any node may write the same image at once
        media = MediaStore.for_output(options["media_for"]) if options.get("media_for") else None
        path = Path(part)
        done = scan_done(path, "", "")  # ids the part holds; a cut last line is removed
        spt, batch = options["samples_per_task"], options["batch_size"]
        todo = [t for t in tasks if any(done[f"{w.name}:{t.id}:s{seed}:{j}"] == 0 for j in range(spt))]
        written = 0
        with open(path, "ab") as fh:
            for start in range(0, len(todo), batch):
                chunk = todo[start:start + batch]
                lines = [orjson.dumps(t.to_dict(), option=orjson.OPT_APPEND_NEWLINE)
                         for t in sample(w, self.backend, len(chunk), seed, tasks=chunk, batch_size=batch,
                                         temperature=options["temperature"], samples_per_task=spt,
                                         max_tokens=options["max_tokens"], media=media)
                         if done[t.id] == 0]
                fh.write(b"".join(lines))
                fh.flush()
                os.fsync(fh.fileno())
                written += len(lines)
        return {"sampled": written, "already_done": sum(done.values()), "tasks": len(tasks)}


def _check_plan(d: Path, plan: dict[str, Any]) -> None:
    plan = orjson.loads(orjson.dumps(plan))  # tuples as lists: compare what was written
    path = d / "plan.json"
    if path.exists():
        old = orjson.loads(path.read_bytes())
        diff = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
        if diff:
            raise ConfigError(f"{d} holds parts of another sampling job ({', '.join(diff)} differ): use the "
                              "same options to resume it, or delete the folder")
        return
    d.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(plan, option=orjson.OPT_INDENT_2))


def run_sampling_ray(
    make_backend: Callable[[], Any],
    world: str,
    n: int,
    seed: int,
    out: str | Path,
    *,
    temperature: float = 1.0,
    samples_per_task: int = 1,
    knobs: dict[str, Any] | None = None,
    batch_size: int = 64,
    max_tokens: int | None = None,
    ray_options: RayOptions | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """``stepsieve.sampling.sample`` over a Ray cluster into ``out``; the same records, the
    same order. ``make_backend`` builds the policy inside each worker (it must pickle). A world
    with screenshots (``gui``) has its workers write the screens into OUT's media folder."""
    from stepsieve.formats import read_trajectories, write_trajectories
    from stepsieve.worlds import Screenshots, get_world

    opts = ray_options or RayOptions()
    out = Path(out).absolute()
    shard_size = opts.shard_size if opts.shard_size is not None else 4 * batch_size
    t0 = time.perf_counter()
    w = get_world(world)
    tasks = w.sample_tasks(n, seed, **(knobs or {}))
    options = {"temperature": temperature, "samples_per_task": samples_per_task, "batch_size": batch_size,
               "max_tokens": max_tokens, "media_for": str(out) if isinstance(w, Screenshots) else None}
    d = parts_dir(out)
    started = _connect(opts.address)
    actors: list[Any] = []
    try:
        workers = _workers(opts)
        remote = ray.remote(_Sampler).options(num_cpus=opts.num_cpus, num_gpus=opts.num_gpus,
                                              max_restarts=opts.max_restarts, max_task_retries=opts.max_restarts)
        actors = [remote.remote(make_backend) for _ in range(workers)]
        model = ray.get(actors[0].model.remote())
        _check_plan(d, {"version": 1, "verb": "sample", "world": world, "n": n, "seed": seed, "knobs": knobs or {},
                        "model": model, "shard_size": shard_size, **options})
        shards: Iterator[list[Any]] = (tasks[i:i + shard_size] for i in range(0, len(tasks), shard_size))
        counts = {"sampled": 0, "already_done": 0}

        def call(actor: Any, k: int, shard: list[Any]) -> Any:
            return actor.sample_shard.remote(str(d / f"part-{k:06d}.jsonl"), world, shard, seed, options)

        def on_done(got: dict[str, Any]) -> None:
            counts["sampled"] += got["sampled"]
            counts["already_done"] += got["already_done"]
            if on_progress is not None:
                on_progress(got["tasks"])

        n_shards = _schedule(actors, shards, call, on_done, d, lambda t: str(t.id))
    finally:
        for a in actors:
            ray.kill(a)
        if started:
            ray.shutdown()
    parts = [d / f"part-{k:06d}.jsonl" for k in range(n_shards)]
    # The writer makes OUT appear only once it is whole (a temp file renamed); the screens are
    # already in OUT's media store, so the records keep their paths.
    written = write_trajectories((t for p in parts for t in read_trajectories(p)), out)
    shutil.rmtree(d)
    expected = len(tasks) * samples_per_task
    if written != expected:
        raise ConfigError(f"{out}: {written} trajectories written, {expected} expected")  # a bug, never silent
    return {**counts, "written": written, "workers": len(actors), "shards": n_shards,
            "seconds": time.perf_counter() - t0}
