"""Options shared by the verbs that can run on Ray (``--engine ray``), and their summary.

The local engine is the default and needs nothing here; ``--engine ray`` spreads the same job
over a Ray cluster (``stepsieve.engine.run_grading_ray``): ``--actors`` workers, each holding
one grader (an in-process model, or an HTTP client to the ``--base-url`` replicas), shards of
``--shard-size`` records, one append-only part per shard. Ray is imported only then.

A verb takes them all as one option group (``stepsieve.cli._option_groups``)::

    @app.command("sample")
    @with_option_groups
    def sample_cmd(..., engine_options: Built[EngineOptions] = ENGINE_OPTIONS) -> None:
        eopts = engine_options()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from stepsieve._errors import ConfigError
from stepsieve.cli._model_options import ModelOptions
from stepsieve.cli._option_groups import OptionGroup

__all__ = [
    "ENGINE_OPTIONS",
    "ActorsOpt",
    "EngineOpt",
    "EngineOptions",
    "NumCpusOpt",
    "NumGpusOpt",
    "RayAddressOpt",
    "ShardSizeOpt",
    "merge_summaries",
    "ray_model_options",
    "ray_report",
    "worker_backend_options",
]

EngineOpt = Annotated[
    str,
    typer.Option("--engine", help="local (this process) or ray (a Ray cluster; pip install 'stepsieve[ray]')."),
]
ActorsOpt = Annotated[
    int | None,
    typer.Option("--actors", min=1, help="ray: workers, each with its own grader/model (default: as many as fit)."),
]
NumCpusOpt = Annotated[float, typer.Option("--num-cpus-per-actor", min=0, help="ray: CPUs reserved per worker.")]
NumGpusOpt = Annotated[
    float, typer.Option("--num-gpus-per-actor", min=0, help="ray: GPUs per worker (its in-process model runs on one).")
]
ShardSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--shard-size", min=1, help="ray: records per shard, a multiple of --batch-size (default: 8 batches)."
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="ray: cluster to join (auto, host:6379, ray://host:10001); default $RAY_ADDRESS, else the cluster "
        "`ray start` made on this node, else a new local one; 'local' always starts a private one on 127.0.0.1.",
    ),
]


@dataclass(frozen=True)
class EngineOptions:
    """The engine options of one command, validated without I/O or Ray."""

    engine: str = "local"
    actors: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    shard_size: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("local", "ray"):
            raise ConfigError(f"--engine must be local or ray, got {self.engine!r}")
        ray_only = {"--actors": self.actors is not None, "--num-gpus-per-actor": self.num_gpus != 0,
                    "--num-cpus-per-actor": self.num_cpus != 1.0, "--shard-size": self.shard_size is not None,
                    "--ray-address": self.address is not None}
        given = [k for k, v in ray_only.items() if v]
        if self.engine == "local" and given:
            raise ConfigError(f"{', '.join(given)} apply to --engine ray only")

    def ray_options(self) -> Any:
        from stepsieve.engine import RayOptions

        return RayOptions(address=self.address, actors=self.actors, num_cpus=self.num_cpus,
                          num_gpus=self.num_gpus, shard_size=self.shard_size)


def _engine_options(
    engine: EngineOpt = "local",
    actors: ActorsOpt = None,
    num_cpus_per_actor: NumCpusOpt = 1.0,
    num_gpus_per_actor: NumGpusOpt = 0.0,
    shard_size: ShardSizeOpt = None,
    ray_address: RayAddressOpt = None,
) -> EngineOptions:
    return EngineOptions(engine, actors, num_cpus_per_actor, num_gpus_per_actor, shard_size, ray_address)


ENGINE_OPTIONS = OptionGroup(_engine_options)  # --engine, --actors, ... --ray-address, in this order

_ADDITIVE = ("requests", "retries", "failures", "failovers", "cache_hits", "calls", "tokens_in", "tokens_out")


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One usage summary for the workers of a Ray job: counts added up, servers by URL."""
    if not summaries:
        return {}
    out: dict[str, Any] = {k: v for k, v in summaries[0].items() if k not in _ADDITIVE and k != "servers"}
    for k in _ADDITIVE:
        if any(k in s for s in summaries):
            out[k] = sum(s.get(k, 0) for s in summaries)
    for rate in ("requests_per_s", "tokens_out_per_s", "seconds"):
        out.pop(rate, None)  # per-worker rates and busy seconds do not add up to the job's
    servers: dict[str, dict[str, int]] = {}
    for s in summaries:
        for srv in s.get("servers") or ():
            tot = servers.setdefault(srv["url"], {"requests": 0, "failures": 0})
            tot["requests"] += srv["requests"]
            tot["failures"] += srv["failures"]
    if servers:
        out["servers"] = [{"url": u, **v} for u, v in servers.items()]
    out["workers"] = len(summaries)
    return out


def worker_backend_options(mopts: ModelOptions, gpu: bool) -> dict[str, Any]:
    """What a backend built inside a Ray worker gets besides the options: no progress bars
    of its own, the model on the worker's GPU when it has one."""
    extra: dict[str, Any] = {"progress": False} if mopts.backend == "openai" else {}
    if gpu and mopts.backend == "transformers":
        extra["device"] = "cuda"
    return extra


def ray_model_options(mopts: ModelOptions) -> tuple[ModelOptions, Any]:
    """The model options a Ray job's workers get, and the job's one budget (``--max-cost``).

    The request cache is resolved to one absolute path here (workers may start elsewhere)."""
    from stepsieve.backends import Budget, default_cache_path

    budget = Budget.parse(mopts.max_cost) if mopts.max_cost else None
    if mopts.cache_path is None and not mopts.no_cache:
        mopts = dataclasses.replace(mopts, cache_path=str(default_cache_path().absolute()))
    return mopts, budget


def ray_report(info: dict[str, Any]) -> dict[str, Any]:
    """The Ray-only part of a verb's JSON report from what ``run_grading_ray`` learnt: engine,
    workers, shards, the job's budget spent, and the workers' model usage added up (also
    printed on stderr as the local engine prints its own)."""
    import orjson

    out: dict[str, Any] = {"engine": "ray", "workers": info["workers"], "shards": info["shards"]}
    if "budget" in info:
        out["budget"] = info["budget"]
    usage = merge_summaries(info["backends"])
    if usage:
        typer.echo(f"model usage: {orjson.dumps(usage).decode()}", err=True)
        out["backend"] = usage
    return out
