"""``stepsieve report RUN_DIR``: one self-contained HTML report of a run."""

from __future__ import annotations

from pathlib import Path

import typer

from stepsieve.cli._app import app


@app.command("report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="Run directory (graded.jsonl, eval.json, search.json, steprm/...)."),
    out: Path = typer.Option(None, "--out", help="Output HTML file (default: RUN_DIR/report.html)."),
) -> None:
    """Write an HTML report (plots inline, no network, no JavaScript): first-error histograms,
    each grader's F1 and cost, calibration, StepRM training, accuracy vs N.

    Examples:

      stepsieve report runs/demo

      stepsieve report runs/demo --out /tmp/demo.html
    """
    from stepsieve.report import write_report

    typer.echo(str(write_report(run_dir, out)))


@app.command("view")
def view_cmd(
    records: Path = typer.Argument(..., help="Trajectories (.jsonl/.parquet; any format with --from)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output HTML file."),
    fmt: str = typer.Option("stepsieve", "--from", help="Input format."),
    curated: Path = typer.Option(
        None, "--curated", help="`stepsieve curate` output of RECORDS: kept/masked/dropped marks."
    ),
    truth: str = typer.Option("truth", "--truth", help="The label shown first, as the truth."),
    limit: int = typer.Option(100, "--limit", help="Show the first N trajectories (0: all)."),
    max_side: int = typer.Option(800, "--max-side", help="Downscale embedded screenshots to this many pixels."),
) -> None:
    """Write the step viewer: one self-contained HTML page (no script, no network) where each
    step shows its screenshots with the action drawn (click to enlarge), the thought, the
    action, and every grader's label next to the truth; filters for first errors, grader
    disagreement and curated-away steps.

    Examples:

      stepsieve view graded.jsonl -o steps.html

      stepsieve view graded.jsonl -o steps.html --curated kept.jsonl --limit 0

      stepsieve view osworld/results -o osw.html --from osworld
    """
    from stepsieve.report import write_viewer

    stats = write_viewer(
        records, out, fmt=fmt, curated=curated, truth=truth, max_side=max_side, limit=limit or None
    )
    msg = f"{out}: {stats.trajectories} trajectories, {stats.steps} steps, {stats.images} images"
    if stats.image_errors:
        msg += f"; {len(stats.image_errors)} images could not be shown (first: {stats.image_errors[0]})"
    typer.echo(msg)
