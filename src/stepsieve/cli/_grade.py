"""``stepsieve grade IN OUT --grader NAME -o key=value``: label every step, resumably.

A thin verb over ``stepsieve.graders.build_grader`` and ``stepsieve.engine.run_grading``:
OUT is append-only JSONL keyed by trajectory id + grader configuration hash, so re-running
the same command after a kill continues where it stopped.

A grader's options come from its ``Options`` dataclass, for built-in and third-party graders
alike: ``-o key=value`` sets one, and so does ``--key value`` (``--flag`` for a boolean),
which keeps the long-standing flags (``--n 16``, ``--mode first-error``, ``--votes 5``)
working. ``--help-options`` lists them. The model flags are shared (``_model_options``).
"""

from __future__ import annotations

import difflib
import functools
import json
import tempfile
from pathlib import Path
from typing import Any, get_args, get_type_hints

import click
import typer

from stepsieve._errors import ConfigError
from stepsieve.cli._app import app
from stepsieve.cli._engine_options import (
    ENGINE_OPTIONS,
    EngineOptions,
    ray_model_options,
    ray_report,
    worker_backend_options,
)
from stepsieve.cli._model_options import MODEL_OPTIONS, ModelOptions, backend_from_options, report_backend
from stepsieve.cli._option_groups import Built, with_option_groups

_EXAMPLES = """Examples:

  stepsieve grade traj.jsonl graded.jsonl --grader rules

  stepsieve grade traj.jsonl mc.jsonl --grader mc -o mode=first-error -o n=16 -o world=arith

  stepsieve grade traj.jsonl judged.jsonl --grader judge --votes 5 --backend openai --model qwen --base-url http://127.0.0.1:8000/v1

  stepsieve grade mc_judged.jsonl kept.jsonl --grader consensus --first mc --second judge

  stepsieve grade in.jsonl mc.jsonl -g mc --engine ray --backend openai --model m --base-url http://n1:80/v1 --base-url http://n2:80/v1

  stepsieve grade --grader mc --help-options
"""

# Flags renamed since they were first written: flag -> option field.
_RENAMED = {"judge_temperature": "temperature", "root_value": "root"}
_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0"})


def _flag_options(args: list[str], options_cls: type, grader: str) -> dict[str, Any]:
    """``--key value`` / ``--key=value`` / ``--flag`` (a bool option) pairs from the extra
    arguments, as option values (strings, parsed later against the field types)."""
    hints = get_type_hints(options_cls)
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"grade: unexpected argument {arg!r}")
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        key = _RENAMED.get(key, key) if key not in hints else key
        if key not in hints:
            hint = difflib.get_close_matches(key, hints, n=1)
            msg = f"grader {grader!r} has no option {key!r} (--{key.replace('_', '-')})"
            msg += f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(msg + f" (options: {', '.join(hints) or 'none'}; see --help-options)")
        if not eq and (hints[key] is bool or set(get_args(hints[key])) == {bool, type(None)}):
            value = "true"  # `--root`, or `--root true` / `--root false`
            if i + 1 < len(args) and args[i + 1].strip().lower() in _BOOL_WORDS:
                i += 1
                value = args[i]
        elif not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"grade: --{key.replace('_', '-')} needs a value")
            i += 1
            value = args[i]
        out[key] = value
        i += 1
    return out


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"-o expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


@app.command("grade", epilog=_EXAMPLES,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@with_option_groups
def grade_cmd(
    ctx: typer.Context,
    src: Path = typer.Argument(None, help="Trajectories to grade (.jsonl, .json, .parquet)."),
    out: Path = typer.Argument(None, help="Graded output, append-only JSONL (re-run to resume)."),
    grader: str = typer.Option(
        ..., "--grader", "-g", help="rules | mc | judge | consensus | progress | prm, or a plug-in."
    ),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="A grader option KEY=VALUE (repeatable; also --KEY VALUE)."
    ),
    help_options: bool = typer.Option(False, "--help-options", help="List the grader's options and exit."),
    label: str = typer.Option(None, "--label", help="Name of the label written (default: the grader's name)."),
    model_options: Built[ModelOptions] = MODEL_OPTIONS,
    fmt: str = typer.Option("stepsieve", "--from", help="Input format (see `stepsieve convert --help`)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Trajectories graded per batch (and flushed together)."),
    on_error: str = typer.Option("raise", "--on-error", help="raise | skip (bad input to OUT.rejected.jsonl)."),
    limit: int = typer.Option(None, "--limit", help="Stop after this many input records."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    engine_options: Built[EngineOptions] = ENGINE_OPTIONS,
) -> None:
    """Grade every step of IN with one grader and append the labelled records to OUT."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stepsieve.engine import run_grading
    from stepsieve.graders import GradeContext, build_grader, describe_grader, grader_options

    if help_options:
        typer.echo(describe_grader(grader))
        raise typer.Exit(0)
    if src is None or out is None:
        raise click.UsageError(f"Missing argument '{'SRC' if src is None else 'OUT'}'.")
    values = {**_flag_options(list(ctx.args), grader_options(grader), grader), **_pairs(option)}
    mopts = model_options()
    eopts = engine_options()
    if eopts.engine == "ray" and not mopts.dry_run:
        _grade_on_ray(grader, values, label, mopts, eopts, src, out, fmt=fmt, batch_size=batch_size,
                      on_error=on_error, limit=limit, quiet=quiet)
        return
    gctx = GradeContext(label=label, backend=lambda: backend_from_options(mopts), model=mopts.model,
                        default_model=mopts.model is None and mopts.backend == "transformers", source=src, fmt=fmt)
    g = build_grader(grader, values, gctx)
    scratch = tempfile.TemporaryDirectory() if mopts.dry_run else None  # a dry run writes no labels
    target = Path(scratch.name) / "dry.jsonl" if scratch is not None else out
    with Progress(TextColumn("grading"), BarColumn(), TextColumn("{task.fields[done]} graded"),
                  TimeRemainingColumn(), disable=quiet, transient=True) as bar:
        task = bar.add_task("grade", total=None, done=0)

        def on_batch(stats: Any, reader: Any) -> None:
            bar.update(task, total=reader.size(), completed=reader.position, done=stats.graded)

        stats = run_grading(g, src, target, fmt=fmt, batch_size=batch_size, on_error=on_error, limit=limit,
                            on_batch=on_batch)
    report: dict[str, Any] = {"grader": g.name, **stats.to_dict()}
    if (keep_rate := getattr(g, "keep_rate", None)) is not None:
        report["keep_rate"] = keep_rate
    if counts := getattr(g, "counts", None):  # what a grader counted: skipped prompts, images sent...
        report["counts"] = dict(counts)
    if scratch is not None:
        scratch.cleanup()
        report["dry_run"] = True
    else:
        from stepsieve._manifest import write_manifest

        write_manifest(out, verb="grade", inputs=[src], labels=[g.name],
                       options={"grader": grader, "config": getattr(g, "config", values), "from": fmt,
                                "batch_size": batch_size, "on_error": on_error, "limit": limit},
                       counts={"in": stats.read, "out": stats.already_done + stats.graded,
                               "rejected": stats.rejected, **stats.to_dict()})
    be = getattr(g, "backend", None)
    if be is not None:
        report["backend"] = report_backend(be)
    typer.echo(json.dumps(report))


def _worker_grader(grader: str, values: dict[str, Any], label: str | None, mopts: ModelOptions,
                   src: Path, fmt: str, gpu: bool, budget: Any = None) -> Any:
    """Build the grader inside a Ray worker: the same options as the local engine's, the
    model loaded there (on its GPU when it has one), the job's shared budget (``budget``)."""
    from stepsieve.graders import GradeContext, build_grader

    extra = worker_backend_options(mopts, gpu)
    gctx = GradeContext(label=label, backend=lambda: backend_from_options(mopts, budget=budget, **extra),
                        model=mopts.model,
                        default_model=mopts.model is None and mopts.backend == "transformers", source=src, fmt=fmt)
    return build_grader(grader, values, gctx)


def _grade_on_ray(grader: str, values: dict[str, Any], label: str | None, mopts: ModelOptions,
                  eopts: EngineOptions, src: Path, out: Path, *, fmt: str, batch_size: int, on_error: str,
                  limit: int | None, quiet: bool) -> None:
    """``grade --engine ray``: the same job on a Ray cluster, the same output file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stepsieve._manifest import write_manifest
    from stepsieve.engine import run_grading_ray

    mopts, budget = ray_model_options(mopts)
    make = functools.partial(_worker_grader, grader, values, label, mopts, src.absolute(), fmt,
                             eopts.num_gpus > 0)
    with Progress(TextColumn("grading on ray"), BarColumn(), TextColumn("{task.fields[done]} graded"),
                  TimeRemainingColumn(), disable=quiet, transient=True) as bar:
        task = bar.add_task("grade", total=None, done=0)

        def on_progress(stats: Any, reader: Any) -> None:
            bar.update(task, total=reader.size(), completed=reader.position, done=stats.graded)

        stats, info = run_grading_ray(make, src, out, ray_options=eopts.ray_options(), fmt=fmt,
                                      batch_size=batch_size, on_error=on_error, limit=limit,
                                      on_progress=on_progress, on_note=lambda m: typer.echo(m, err=True),
                                      budget=budget)
    report: dict[str, Any] = {"grader": info["grader"], **stats.to_dict()}
    if info["counts"]:
        report["counts"] = info["counts"]
    write_manifest(out, verb="grade", inputs=[src], labels=[info["grader"]],
                   options={"grader": grader, "config": info["config"] or values, "from": fmt,
                            "batch_size": batch_size, "on_error": on_error, "limit": limit, "engine": "ray"},
                   counts={"in": stats.read, "out": stats.already_done + stats.graded,
                           "rejected": stats.rejected, **stats.to_dict()})
    report.update(ray_report(info))
    typer.echo(json.dumps(report))
