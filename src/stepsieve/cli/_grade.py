"""``stepsieve grade IN OUT --grader NAME``: label every step, resumably.

A thin verb over ``stepsieve.graders`` and ``stepsieve.engine.run_grading``: OUT is
append-only JSONL keyed by trajectory id + grader configuration hash, so re-running the
same command after a kill continues where it stopped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stepsieve.cli._app import app
from stepsieve.cli._model_options import (
    BackendOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DryRunOpt,
    MaxCostOpt,
    ModelOpt,
    ModelOptions,
    NoCacheOpt,
    backend_from_options,
    report_backend,
)

_EXAMPLES = """Examples:

  stepsieve grade traj.jsonl graded.jsonl --grader rules

  stepsieve grade traj.jsonl mc.jsonl --grader mc --mode first-error --n 16 --world arith

  stepsieve grade traj.jsonl judged.jsonl --grader judge --votes 5 --backend openai --model qwen --base-url http://127.0.0.1:8000/v1

  stepsieve grade mc_judged.jsonl kept.jsonl --grader consensus --first mc --second judge

  stepsieve grade mc.jsonl adv.jsonl --grader progress --source mc
"""


def _first_world(src: Path, fmt: str) -> str | None:
    from stepsieve.formats import open_reader

    for t in open_reader(src, fmt, on_error="skip"):
        return t.meta.get("world")
    return None


def build_grader(name: str, src: Path, fmt: str, o: dict[str, Any], mopts: ModelOptions) -> Any:
    """The grader ``name`` configured from CLI options ``o`` and the shared model options."""
    from stepsieve.graders import GRADERS

    cls = GRADERS.get(name)
    label = o["label"] or name
    if name == "rules":
        return cls(name=label)
    if name == "progress":
        return cls(source=o["source"], name=label, root=o["root_value"], margin=o["margin"])
    if name == "consensus":
        return cls(o["first"], o["second"], mode=o["mode"] or "filter", name=label)
    if name == "mc":
        from stepsieve.graders._rollout import AnswerChecker
        from stepsieve.worlds import get_world

        world_name = o["world"] or _first_world(src, fmt) or "math"
        world = AnswerChecker() if world_name == "math" else get_world(world_name)
        return cls(
            backend_from_options(mopts), world, n=o["n"], mode=o["mode"] or "every-step", temperature=o["temperature"],
            max_tokens=o["max_tokens"], seed=o["seed"], keep_rollouts=o["keep_rollouts"], root=o["root"], name=label,
            threshold=o["threshold"], extend=o["extend"], confirm=o["confirm"], rollout_check=o["rollout_check"],
            recheck=o["recheck"],
        )
    if name == "judge":
        # no --model: the embedded verifier (not the embedded policy) judges, offline
        backend = backend_from_options(mopts) if mopts.model or mopts.backend != "transformers" else None
        return cls(
            backend, mode=o["mode"] or "first-error", votes=o["votes"], temperature=o["judge_temperature"],
            max_tokens=o["max_tokens"], seed=o["seed"], template=o["template"], name=label,
        )
    if name == "prm":
        return cls(o["model"], name=label)
    return cls(name=label)  # a grader registered by a third party: default options


@app.command("grade", epilog=_EXAMPLES)
def grade_cmd(
    src: Path = typer.Argument(..., help="Trajectories to grade (.jsonl, .json, .parquet)."),
    out: Path = typer.Argument(..., help="Graded output, append-only JSONL (re-run to resume)."),
    grader: str = typer.Option(..., "--grader", "-g", help="rules | mc | judge | consensus | progress | prm."),
    label: str = typer.Option(None, "--label", help="Name of the label written (default: the grader's name)."),
    mode: str = typer.Option(None, "--mode", help="mc: every-step | first-error; judge: first-error | per-step; consensus: filter | label."),
    n: int = typer.Option(8, "--n", help="mc: rollouts per probed prefix."),
    world: str = typer.Option(None, "--world", help="mc: arith | toolcalc | math (default: the records' meta.world, else math)."),
    temperature: float = typer.Option(1.0, "--temperature", help="mc: sampling temperature of rollouts."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Tokens per completion (mc rollouts, judge replies)."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed (rollouts and votes are reproducible)."),
    keep_rollouts: bool = typer.Option(False, "--keep-rollouts", help="mc: store each rollout's text in the labels."),
    root: bool = typer.Option(False, "--root", help="mc: also probe the empty prefix (V of the task, for progress)."),
    threshold: float = typer.Option(0.0, "--threshold", help="mc: a prefix is a dead end when its value <= this."),
    extend: int = typer.Option(0, "--extend", help="mc: extra rollouts drawn for a dead end before it counts."),
    confirm: bool = typer.Option(False, "--confirm", help="mc: a dead end is refuted by a recoverable longer prefix."),
    recheck: int = typer.Option(0, "--recheck", help="mc first-error: extra rollouts re-estimating the dead end the search settles on."),
    rollout_check: str = typer.Option(None, "--rollout-check", help="mc: 'rules': a success must make no false arithmetic claim."),
    votes: int = typer.Option(1, "--votes", help="judge: judgements sampled per call, majority-aggregated."),
    judge_temperature: float = typer.Option(None, "--judge-temperature", help="judge: temperature (default 0 for 1 vote, else 0.7)."),
    template: str = typer.Option(None, "--template", help="judge: prompt template file (see graders/prompts/)."),
    first: str = typer.Option("mc", "--first", help="consensus: first label."),
    second: str = typer.Option("judge", "--second", help="consensus: second label."),
    source: str = typer.Option("mc", "--source", help="progress: the mc label to read values from."),
    root_value: float = typer.Option(None, "--root-value", help="progress: V(empty prefix) when no root rollouts are recorded."),
    margin: float = typer.Option(0.0, "--margin", help="progress: |advantage| below this is neutral."),
    backend: BackendOpt = "transformers",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    concurrency: ConcurrencyOpt = 8,
    max_cost: MaxCostOpt = None,
    dry_run: DryRunOpt = False,
    no_cache: NoCacheOpt = False,
    fmt: str = typer.Option("stepsieve", "--from", help="Input format (see `stepsieve convert --help`)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Trajectories graded per batch (and flushed together)."),
    on_error: str = typer.Option("raise", "--on-error", help="raise | skip (bad input to OUT.rejected.jsonl)."),
    limit: int = typer.Option(None, "--limit", help="Stop after this many input records."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Grade every step of IN with one grader and append the labelled records to OUT."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stepsieve.engine import run_grading

    import tempfile

    opts = dict(locals())
    mopts = ModelOptions(backend, model, base_url, concurrency, max_cost, dry_run, no_cache)
    g = build_grader(grader, src, fmt, opts, mopts)
    scratch = tempfile.TemporaryDirectory() if dry_run else None  # a dry run writes no labels
    target = Path(scratch.name) / "dry.jsonl" if scratch is not None else out
    with Progress(TextColumn("grading"), BarColumn(), TextColumn("{task.fields[done]} graded"),
                  TimeRemainingColumn(), disable=quiet, transient=True) as bar:
        task = bar.add_task("grade", total=None, done=0)

        def on_batch(stats: Any, reader: Any) -> None:
            bar.update(task, total=reader.size(), completed=reader.position, done=stats.graded)

        stats = run_grading(g, src, target, fmt=fmt, batch_size=batch_size, on_error=on_error, limit=limit,
                            on_batch=on_batch)
    report: dict[str, Any] = {"grader": g.name, **stats.to_dict()}
    if getattr(g, "keep_rate", None) is not None:
        report["keep_rate"] = g.keep_rate
    if scratch is not None:
        scratch.cleanup()
        report["dry_run"] = True
    be = getattr(g, "backend", None)
    if be is not None:
        report["backend"] = report_backend(be)
    typer.echo(json.dumps(report))
