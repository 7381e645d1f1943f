"""``stepsieve eval FILE --label NAME --against truth|NAME``: measure a label.

Prints the JSON report of ``stepsieve.evaluate.evaluate`` (ProcessBench per split and
averaged, step F1 / negative F1, confusion matrix, calibration, cost per label), after a
short human-readable summary on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stepsieve.cli._app import app

_EXAMPLES = """Examples:

  stepsieve eval graded.jsonl --label mc --against truth

  stepsieve eval graded.jsonl --label prm --threshold auto --dev-split dev --split-key split

  stepsieve eval graded.jsonl --label judge --against mc --out judge_vs_mc.json
"""


@app.command("eval", epilog=_EXAMPLES)
def eval_cmd(
    path: Path = typer.Argument(..., help="Graded trajectories (.jsonl, .parquet)."),
    label: str = typer.Option(..., "--label", "-l", help="The label to measure."),
    against: str = typer.Option("truth", "--against", help="Reference label (default: truth)."),
    split_key: str = typer.Option(None, "--split-key", help="meta field naming the split (default: split, else source)."),
    threshold: str = typer.Option(None, "--threshold", help="Read scores: a number, or 'auto' (chosen on --dev-split)."),
    dev_split: str = typer.Option(None, "--dev-split", help="Split used only to choose the threshold."),
    none_as: str = typer.Option("pass", "--none-as", help="Undecided steps: pass (skipped) | strict (no prediction)."),
    fmt: str = typer.Option("stepsieve", "--from", help="Input format."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write the JSON report here."),
) -> None:
    """Measure a label against the truth (or another label)."""
    from stepsieve._errors import ConfigError
    from stepsieve.evaluate import evaluate
    from stepsieve.formats import open_reader

    if none_as not in ("pass", "strict"):
        raise ConfigError(f"--none-as must be pass or strict, got {none_as!r}")
    thr: float | str | None = threshold
    if threshold not in (None, "auto"):
        try:
            thr = float(threshold)
        except ValueError:
            raise ConfigError(f"--threshold must be a number or 'auto', got {threshold!r}") from None
    rep = evaluate(open_reader(path, fmt), label, against, split_key=split_key, threshold=thr,
                   dev_split=dev_split, none_as=none_as)  # type: ignore[arg-type]
    pb = rep["processbench"]
    st = rep["steps"]

    def f(x: object) -> str:
        return "n/a" if x is None else f"{x:.3f}"  # type: ignore[str-format]

    typer.echo(
        f"{label} vs {against}: {rep['trajectories']} trajectories; ProcessBench avg F1 {f(pb['average_f1'])}; "
        f"step F1 {f(st['f1'])}, negative F1 {f(st['negative_f1'])}, flagged precision {f(st['precision_wrong'])}",
        err=True,
    )
    text = json.dumps(rep, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    typer.echo(text)
