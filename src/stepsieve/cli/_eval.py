"""``stepsieve eval FILE --label NAME --against truth|NAME``: measure a label.

Prints the JSON report of ``stepsieve.evaluate.evaluate`` (ProcessBench per split and
averaged, step F1 / negative F1, confusion matrix, calibration, cost per label; PRMBench's
PRMScore per category and overall when the items are PRMBench's), after a short
human-readable summary on stderr with one row per split.

``--predictions FILE --format processbench|prmbench`` scores the official scripts' own
prediction files (ProcessBench ``run_eval.py`` outputs; PRMBench ``mr_eval`` results, against
the PRMBench items in FILE), alone or next to a label, so a published model and a stepsieve
grader are compared in one command. ``--out`` writes the report and its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stepsieve.cli._app import app

_EXAMPLES = """Examples:

  stepsieve eval graded.jsonl --label mc --against truth

  stepsieve eval graded.jsonl --label prm --threshold auto --dev-split dev --split-key split

  stepsieve eval graded.jsonl --label judge --against mc --out judge_vs_mc.json

  stepsieve eval --format processbench --predictions out/Qwen/gsm8k_error.jsonl \
      --predictions out/Qwen/gsm8k_correct.jsonl

  stepsieve eval rules_on_prmbench.jsonl --label rules --predictions qwen_prm.jsonl --format prmbench
"""


def _f(x: object) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _pb_rows(name: str, pb: dict[str, Any]) -> None:
    for split, s in pb["splits"].items():
        typer.echo(f"  {name} {split}: acc_error {_f(s['acc_error'])} ({s['n_error']}), "
                   f"acc_correct {_f(s['acc_correct'])} ({s['n_correct']}), F1 {_f(s['f1'])}", err=True)
    typer.echo(f"  {name} mean F1 over {len(pb['splits'])} split(s): {_f(pb['average_f1'])}", err=True)


def _prm_rows(name: str, rep: dict[str, Any]) -> None:
    for cat, c in rep["categories"].items():
        typer.echo(f"  {name} {cat}: PRMScore {_f(c['prm_score'])} ({c['items']} items)", err=True)
    oor = rep["out_of_range_error_steps"]
    typer.echo(f"  {name} PRMScore overall {_f(rep['overall']['prm_score'])}; out-of-range error_steps "
               f"ignored: {oor['indices']} in {oor['items']} item(s)", err=True)


@app.command("eval", epilog=_EXAMPLES)
def eval_cmd(
    path: Path = typer.Argument(
        None, help="Graded trajectories (.jsonl, .parquet); the reference items for prmbench predictions."
    ),
    label: str = typer.Option(None, "--label", "-l", help="The label to measure."),
    against: str = typer.Option("truth", "--against", help="Reference label (default: truth)."),
    split_key: str = typer.Option(
        None, "--split-key", help="meta field naming the split (default: split, else source)."
    ),
    threshold: str = typer.Option(
        None, "--threshold", help="Read scores: a number, or 'auto' (chosen on --dev-split)."
    ),
    dev_split: str = typer.Option(None, "--dev-split", help="Split used only to choose the threshold."),
    none_as: str = typer.Option(
        "pass", "--none-as", help="Undecided steps: pass (skipped) | strict (no prediction)."
    ),
    fmt: str = typer.Option("stepsieve", "--from", help="Input format."),
    in_opt: list[str] | None = typer.Option(
        None, "--in-opt", help="Input format option KEY=VALUE (repeatable)."
    ),
    predictions: list[Path] | None = typer.Option(
        None, "--predictions", help="An official prediction file (repeatable)."
    ),
    pred_format: str = typer.Option(
        None, "--format", help="Layout of --predictions: processbench | prmbench."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Also write the JSON report here (and OUT.manifest.json)."
    ),
) -> None:
    """Measure a label against the truth (or another label), or an official prediction file."""
    from stepsieve._errors import ConfigError
    from stepsieve._manifest import write_manifest
    from stepsieve.cli._io_verbs import parse_options
    from stepsieve.evaluate import evaluate, prmbench_predictions, prmbench_score, processbench_predictions
    from stepsieve.formats import read_trajectories

    if none_as not in ("pass", "strict"):
        raise ConfigError(f"--none-as must be pass or strict, got {none_as!r}")
    if predictions and pred_format not in ("processbench", "prmbench"):
        raise ConfigError("--predictions needs --format processbench or --format prmbench")
    if label is None and not predictions:
        raise ConfigError("give --label NAME (a label in FILE) or --predictions FILE --format NAME")
    if path is None and (label is not None or pred_format == "prmbench"):
        why = " (the PRMBench items the predictions refer to)" if label is None else ""
        raise ConfigError("FILE is required" + why)
    thr: float | str | None = threshold
    if threshold not in (None, "auto"):
        try:
            thr = float(threshold)
        except ValueError:
            raise ConfigError(f"--threshold must be a number or 'auto', got {threshold!r}") from None
    opts = parse_options(in_opt, "--in-opt")
    trajs = list(read_trajectories(path, fmt, **opts)) if path is not None else []
    rep: dict[str, Any] = {}
    if label is not None:
        rep = evaluate(trajs, label, against, split_key=split_key, threshold=thr, dev_split=dev_split,
                       none_as=none_as)  # type: ignore[arg-type]
        if any("prmbench" in t.meta for t in trajs):
            rep["prmbench"] = prmbench_score(trajs, label, against,
                                             threshold=thr if isinstance(thr, float) else None)
        pb, st = rep["processbench"], rep["steps"]
        typer.echo(
            f"{label} vs {against}: {rep['trajectories']} trajectories; "
            f"ProcessBench mean F1 {_f(pb['average_f1'])}; step F1 {_f(st['f1'])}, "
            f"negative F1 {_f(st['negative_f1'])}, flagged precision {_f(st['precision_wrong'])}",
            err=True,
        )
        _pb_rows(label, pb)
        if "prmbench" in rep:
            _prm_rows(label, rep["prmbench"])
    scored = rep.get("trajectories")
    if predictions:
        if pred_format == "processbench":
            pred_rep = processbench_predictions(predictions)
            _pb_rows("predictions", pred_rep)
        else:
            pred_rep = prmbench_predictions(trajs, predictions, against)
            _prm_rows("predictions", pred_rep)
        rep = {"label": rep, "predictions": pred_rep} if label is not None else {"predictions": pred_rep}
    text = json.dumps(rep, indent=2)
    if out is not None:
        out.write_text(text + "\n")
        inputs = ([path] if path is not None else []) + list(predictions or [])
        write_manifest(
            out, verb="eval", inputs=inputs, labels=[x for x in (label, against) if x],
            options={"label": label, "against": against, "split_key": split_key, "threshold": threshold,
                     "dev_split": dev_split, "none_as": none_as, "from": fmt, "in_opt": in_opt or [],
                     "predictions_format": pred_format},
            counts={"in": len(trajs), "out": 1, "rejected": 0,
                    "trajectories_scored": scored},
        )
    typer.echo(text)
