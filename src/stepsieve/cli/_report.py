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
