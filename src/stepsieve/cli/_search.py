"""``stepsieve search``: reward-guided search on a world's tasks with a policy and a StepRM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stepsieve._errors import ConfigError
from stepsieve.cli._app import app


def _knobs(pairs: list[str]) -> dict[str, Any]:
    """``ops=4-6`` -> {"ops": (4, 6)}; ``max_start=20`` -> {"max_start": 20}."""
    out: dict[str, Any] = {}
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep:
            raise ConfigError(f"--knob expects KEY=VALUE, got {p!r}")
        try:
            lo, dash, hi = val.partition("-")
            out[key] = (int(lo), int(hi)) if dash and lo else int(val)
        except ValueError:
            raise ConfigError(f"--knob {key}: expected an integer or a range like 4-6, got {val!r}") from None
    return out


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{what}: expected comma-separated integers, got {text!r}") from None


def make_backend(backend: str, model: str | None, base_url: str | None) -> Any:
    """A policy backend by name (the embedded policy when no model is given)."""
    from stepsieve.backends._protocol import BACKENDS

    cls = BACKENDS.get(backend)
    if backend == "openai":
        if not model or not base_url:
            raise ConfigError("--backend openai needs --model NAME and --base-url URL")
        return cls(model, base_url=base_url)
    return cls(model)


@app.command("search")
def search_cmd(
    world: str = typer.Option("arith", "--world", help="World whose tasks to solve."),
    tasks: int = typer.Option(100, "--tasks", help="Number of tasks."),
    task_seed: int = typer.Option(1000, "--task-seed", help="Seed of the task sample."),
    knob: list[str] = typer.Option([], "--knob", help="World knob KEY=VALUE, e.g. ops=4-6 (repeatable)."),
    backend: str = typer.Option("transformers", "--backend", help="Policy backend: transformers|openai."),
    model: str = typer.Option(None, "--model", help="Policy model (default: the embedded policy)."),
    base_url: str = typer.Option(None, "--base-url", help="Server URL for --backend openai."),
    prm: Path = typer.Option(None, "--prm", help="StepRM directory (default: the embedded StepRM)."),
    n: str = typer.Option("1,2,4,8,16", "--n", help="Sample counts for the accuracy-vs-N curves."),
    beam: str = typer.Option("4x4", "--beam", help="Beam configs WIDTHxEXPAND, comma-separated ('' for none)."),
    greedy_expand: int = typer.Option(
        4, "--greedy-expand", help="Candidates per step for reward-guided greedy (0: skip)."
    ),
    temperature: float = typer.Option(1.0, "--temperature"),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Generation limit of one full sampled solution."),
    max_steps: int = typer.Option(12, "--max-steps", help="Depth limit of beam search and greedy."),
    max_step_tokens: int = typer.Option(64, "--max-step-tokens", help="Generation limit of one step in step search."),
    seed: int = typer.Option(0, "--seed"),
    repeats: int = typer.Option(20, "--repeats", help="Random subsets averaged per N on the curves."),
    out: Path = typer.Option(Path("search.json"), "--out", help="Where to write the JSON result."),
) -> None:
    """Majority vote vs PRM best-of-N (min/prod/last/mean) vs PRM-weighted vote vs step-level
    beam search and reward-guided greedy, with generated tokens, written as JSON.

    Examples:

      stepsieve search --tasks 100 --knob ops=6-8 --out run/search.json

      stepsieve search --backend openai --model Qwen2.5-Math-7B --prm my_prm --n 1,4,16 --base-url http://127.0.0.1:8000/v1
    """
    from stepsieve.prm import StepRM, StepRMScorer, default_model_dir
    from stepsieve.search import run_search
    from stepsieve.worlds import get_world

    beams = []
    for spec in [s for s in beam.split(",") if s.strip()]:
        w, x, k = spec.lower().partition("x")
        if not x:
            raise ConfigError(f"--beam expects WIDTHxEXPAND like 4x4, got {spec!r}")
        beams.append((int(w), int(k)))
    world_obj = get_world(world)
    task_list = world_obj.sample_tasks(tasks, task_seed, **_knobs(knob))
    policy = make_backend(backend, model, base_url)
    scorer = StepRMScorer(StepRM.load(prm or default_model_dir()))
    result = run_search(task_list, world_obj, policy, scorer, ns=_ints(n, "--n"), beams=beams,
                        greedy_expand=greedy_expand or None, temperature=temperature, seed=seed,
                        max_tokens=max_tokens, max_steps=max_steps, max_step_tokens=max_step_tokens,
                        repeats=repeats, progress=True)
    result["world"] = world
    result["knobs"] = {k: list(v) if isinstance(v, tuple) else v for k, v in _knobs(knob).items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(json.dumps(result["at_max_n"]))
    typer.echo(str(out))
