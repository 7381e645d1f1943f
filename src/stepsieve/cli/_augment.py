"""``stepsieve augment IN OUT --label L``: a model writes the reasoning behind each kept action.

A thin verb over ``stepsieve.augment.Augmenter`` run by the grading engine: OUT is
append-only JSONL, resumable (keyed by trajectory id + the augmentation's configuration
hash, stamped in ``meta.augment``), with the request cache and ``--max-cost`` of every model
verb. With no model it runs offline with the embedded policy (the path, not the quality).
Prints one JSON summary: steps written, rejected by reason, over the context, and the model
usage; writes OUT's manifest.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import typer

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

  stepsieve augment judged.jsonl thoughts.jsonl --label judge

  stepsieve augment judged.jsonl thoughts.jsonl --label judge --backend openai
      --model Qwen/Qwen2.5-VL-7B-Instruct --base-url http://127.0.0.1:8000/v1 --max-cost tokens=2000000

  stepsieve augment run.jsonl thoughts.jsonl --keep all -o max_chars=800 --dry-run

  stepsieve augment judged.jsonl thoughts.jsonl --label judge --engine ray --actors 16 --backend openai
      --model m --base-url http://n1:8000/v1 --base-url http://n2:8000/v1 --max-cost tokens=2000000
"""


@app.command("augment", epilog=_EXAMPLES)
@with_option_groups
def augment_cmd(
    src: Path = typer.Argument(..., help="Labelled trajectories (.jsonl, .json, .parquet)."),
    out: Path = typer.Argument(..., help="Output, append-only JSONL (re-run to resume)."),
    label: str = typer.Option(None, "--label", help="Keep the action steps this label calls correct."),
    keep: str = typer.Option("correct", "--keep", help="correct (by --label) | all (every action step)."),
    option: list[str] = typer.Option([], "--option", "-o", help="An augment option KEY=VALUE (repeatable)."),
    help_options: bool = typer.Option(False, "--help-options", help="List the augment options and exit."),
    model_options: Built[ModelOptions] = MODEL_OPTIONS.without("timeout", "api_key_file"),
    fmt: str = typer.Option("stepsieve", "--from", help="Input format (see `stepsieve convert --help`)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Trajectories per batch (and flushed together)."),
    on_error: str = typer.Option("raise", "--on-error", help="raise | skip (bad input to OUT.rejected.jsonl)."),
    limit: int = typer.Option(None, "--limit", help="Stop after this many input records."),
    engine_options: Built[EngineOptions] = ENGINE_OPTIONS,
) -> None:
    """Write the reasoning behind every kept action step of IN (its `thought`) into OUT."""
    from stepsieve._errors import ConfigError
    from stepsieve._registry import describe_options, parse_options
    from stepsieve.augment import Augmenter, AugmentOptions, written_hash
    from stepsieve.engine import run_grading

    if help_options:
        typer.echo(describe_options(AugmentOptions, "augment"))
        raise typer.Exit(0)
    values: dict[str, Any] = {}
    for item in option:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"-o expects KEY=VALUE, got {item!r}")
        values[key.strip()] = value
    values.update({"label": label, "keep": keep})
    mopts = model_options()
    if mopts.model is None and mopts.backend == "transformers" and "template" not in values:
        # offline, the embedded policy: its 1024-token window needs the compact template
        values.setdefault("history", "3")
        values.setdefault("max_tokens", "96")
        values["template"] = "augment_compact.txt"
    opts = parse_options(AugmentOptions, values, "augment")
    eopts = engine_options()
    if eopts.engine == "ray" and not mopts.dry_run:  # a dry run only counts: the local engine does it
        _augment_on_ray(opts, mopts, eopts, src, out, fmt=fmt, batch_size=batch_size, on_error=on_error,
                        limit=limit)
        return
    job = Augmenter(backend_from_options(mopts), opts, source=src)
    scratch = tempfile.TemporaryDirectory() if mopts.dry_run else None  # a dry run writes nothing
    target = Path(scratch.name) / "dry.jsonl" if scratch is not None else out
    stats = run_grading(job, src, target, fmt=fmt, batch_size=batch_size, on_error=on_error, limit=limit,
                        stamp=written_hash)
    report: dict[str, Any] = {"augment": job.hash, **stats.to_dict(), "counts": dict(job.counts)}
    if scratch is not None:
        scratch.cleanup()
        report["dry_run"] = True
    else:
        from stepsieve._manifest import write_manifest

        write_manifest(out, verb="augment", inputs=[src], labels=[],
                       options={"config": job.config, "from": fmt, "batch_size": batch_size,
                                "on_error": on_error, "limit": limit},
                       counts={"in": stats.read, "out": stats.already_done + stats.graded,
                               "rejected": stats.rejected, **stats.to_dict(), **dict(job.counts)})
    report["backend"] = report_backend(job.backend)
    typer.echo(json.dumps(report))


def _worker_augmenter(opts: Any, mopts: ModelOptions, src: Path, gpu: bool, budget: Any = None) -> Any:
    """The augment job inside a Ray worker: its own backend, the job's shared budget."""
    from stepsieve.augment import Augmenter

    return Augmenter(backend_from_options(mopts, budget=budget, **worker_backend_options(mopts, gpu)), opts,
                     source=src)


def _augment_on_ray(opts: Any, mopts: ModelOptions, eopts: EngineOptions, src: Path, out: Path, *, fmt: str,
                    batch_size: int, on_error: str, limit: int | None) -> None:
    """``augment --engine ray``: the same job on a Ray cluster, the same output file (the
    resume rule reads the hash stamped in ``meta.augment``, as the local engine does)."""
    from stepsieve._manifest import write_manifest
    from stepsieve.augment import written_hash
    from stepsieve.engine import run_grading_ray

    mopts, budget = ray_model_options(mopts)
    make = functools.partial(_worker_augmenter, opts, mopts, src.absolute(), eopts.num_gpus > 0)
    stats, info = run_grading_ray(make, src, out, ray_options=eopts.ray_options(), fmt=fmt, batch_size=batch_size,
                                  on_error=on_error, limit=limit, on_note=lambda m: typer.echo(m, err=True),
                                  budget=budget, stamp=written_hash)
    config = info["config"]
    report: dict[str, Any] = {"augment": info["hash"], **stats.to_dict(), "counts": info["counts"]}
    write_manifest(out, verb="augment", inputs=[src], labels=[],
                   options={"config": config, "from": fmt, "batch_size": batch_size, "on_error": on_error,
                            "limit": limit, "engine": "ray"},
                   counts={"in": stats.read, "out": stats.already_done + stats.graded, "rejected": stats.rejected,
                           **stats.to_dict(), **info["counts"]})
    report.update(ray_report(info))
    typer.echo(json.dumps(report))
