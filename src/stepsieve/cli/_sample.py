"""``stepsieve sample``: sample trajectories from an embedded world with a policy.

A thin verb over ``stepsieve.sampling.sample``: writes Trajectory records (JSONL or
Parquet by suffix) with a per-step ``truth`` label and the outcome, then prints a summary
(accuracy, first-error histogram, error kinds). A world with screens (``gui``) also writes
each action's before/after screenshots into ``OUT.media/``; a world with its own embedded
policy (``world.policy_backend``: the gui world's ``gui-policy``) samples with it unless
``--model`` names a transformers model.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import typer

from stepsieve._errors import ConfigError
from stepsieve.cli._app import app
from stepsieve.cli._engine_options import ENGINE_OPTIONS, EngineOptions
from stepsieve.cli._option_groups import Built, with_option_groups

_EXAMPLES = """Examples:

  stepsieve sample --world arith --n 200 --out arith.jsonl

  stepsieve sample --world toolcalc --n 50 --out agent.jsonl --seed 1 --temperature 0.7

  stepsieve sample --world arith --n 100 --ops 4-6 --samples-per-task 4 --out s.parquet

  stepsieve sample --world gui --n 50 --ops 5-8 --out gui.jsonl   # screenshots in gui.jsonl.media/

  stepsieve sample --world arith --n 100000 --out big.jsonl --engine ray --num-gpus-per-actor 1
"""


def _ops(text: str | None) -> int | tuple[int, int] | None:
    if text is None:
        return None
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            return (lo, hi)
        return int(text)
    except ValueError:
        raise ConfigError(f"--ops must be N or MIN-MAX, got {text!r}") from None


@app.command("sample", epilog=_EXAMPLES)
@with_option_groups
def sample_cmd(
    world: str = typer.Option("arith", "--world", help="World to sample from: arith, toolcalc or gui."),
    n: int = typer.Option(100, "--n", help="Number of tasks."),
    out: Path = typer.Option(..., "--out", help="Output file (.jsonl or .parquet)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the tasks and of sampling."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    ops: str = typer.Option(
        None, "--ops", help="Operations (gui: plan steps) per task: N or MIN-MAX (default: the world's)."
    ),
    samples_per_task: int = typer.Option(1, "--samples-per-task", help="Samples of each task."),
    model: str = typer.Option(None, "--model", help="Policy model directory (default: the embedded policy)."),
    batch_size: int = typer.Option(64, "--batch-size", help="Tasks per batched generation call."),
    engine_options: Built[EngineOptions] = ENGINE_OPTIONS,
) -> None:
    """Sample trajectories with the policy and label every step with the exact truth."""
    from rich.progress import Progress

    from stepsieve.formats import write_trajectories
    from stepsieve.media import MediaStore
    from stepsieve.sampling import sample, summarize
    from stepsieve.worlds import Screenshots, get_world

    if n < 1 or samples_per_task < 1:
        raise ConfigError("--n and --samples-per-task must be at least 1")
    w = get_world(world)
    knobs = {} if ops is None else {"ops": _ops(ops)}
    eopts = engine_options()
    if eopts.engine == "ray":
        from stepsieve.engine import run_sampling_ray
        from stepsieve.formats import read_trajectories

        make = functools.partial(_worker_policy, world, model, eopts.num_gpus > 0)
        with Progress(transient=True) as bar:
            job = bar.add_task(f"sampling {world} on ray", total=n)
            info = run_sampling_ray(make, world, n, seed, out, temperature=temperature,
                                    samples_per_task=samples_per_task, knobs=knobs, batch_size=batch_size,
                                    ray_options=eopts.ray_options(), on_progress=lambda k: bar.advance(job, k))
        summary = {"world": world, "out": str(out), "engine": "ray", "workers": info["workers"],
                   "shards": info["shards"], **summarize(list(read_trajectories(out)))}
        typer.echo(json.dumps(summary, indent=1))
        return
    backend = _policy(w, model)
    media = MediaStore.for_output(out) if isinstance(w, Screenshots) else None
    records = []  # kept for the summary; the writer streams them to disk as they come

    with Progress(transient=True) as bar:
        job = bar.add_task(f"sampling {world}", total=n * samples_per_task)

        def stream():
            for t in sample(w, backend, n, seed, temperature=temperature, samples_per_task=samples_per_task,
                            knobs=knobs, batch_size=batch_size, media=media):
                records.append(t)
                bar.advance(job)
                yield t

        write_trajectories(stream(), out)
    summary = {"world": world, "out": str(out), **summarize(records)}
    typer.echo(json.dumps(summary, indent=1))


def _policy(w: Any, model: str | None, **kw: Any) -> Any:
    """The sampling policy: a world's own embedded one (gui: gui-policy) unless ``--model``
    names a transformers model."""
    from stepsieve.backends import BACKENDS
    from stepsieve.backends.gui_policy import is_gui_policy_dir

    own = getattr(w, "policy_backend", None)
    if own is not None and (model is None or is_gui_policy_dir(model)):
        return BACKENDS.get(own)(model)
    return BACKENDS.get("transformers")(model, **kw)


def _worker_policy(world: str, model: str | None, gpu: bool) -> Any:
    """The policy, built inside a Ray worker (on its GPU when it has one)."""
    from stepsieve.worlds import get_world

    return _policy(get_world(world), model, **({"device": "cuda"} if gpu else {}))
