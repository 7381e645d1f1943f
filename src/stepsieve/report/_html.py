"""Rendering a run as one self-contained HTML file: inline CSS, figures as base64 PNG,
no script and no external resource, so it opens offline and can be mailed as is."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepsieve._version import __version__
from stepsieve.report import _plots
from stepsieve.report._rundir import STEPRM_CONFIGS, RunData, load_run
from stepsieve.report._viewer import write_viewer

__all__ = ["SECTIONS", "render_html", "write_report"]

SECTIONS = ("overview", "first-errors", "graders", "calibration", "steprm", "search")

_CSS = """
body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.missing{color:#888;font-style:italic}h2{border-bottom:1px solid #ddd;margin-top:1.6em}
"""


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) >= 1000 else f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _missing(what: str) -> str:
    return f'<p class="missing">Not in this run: {html.escape(what)}.</p>'


def _overview(run: RunData) -> str:
    rows: list[list[Any]] = []
    if run.trajectories_file:
        rows.append(["trajectories", f"{len(run.steps)} ({run.trajectories_file})"])
        rows.append(["mean steps", sum(run.steps) / max(1, len(run.steps))])
        rows.append(["final-answer accuracy", run.outcome_accuracy])
        rows.append(["labels", ", ".join(run.first_errors)])
    out = _table(["", ""], rows) if rows else _missing("graded.jsonl or samples.jsonl")
    if run.summary:
        stages = run.summary["stages"]
        keys = sorted({k for s in stages for k in s if k != "name"})
        rows = [[s.get("name"), *(s.get(k) for k in keys)] for s in stages]
        out += "<h3>Stages</h3>" + _table(["stage", *keys], rows)
    return out


def _first_errors(run: RunData) -> str:
    if not run.first_errors:
        return _missing("graded.jsonl with labels")
    rows = []
    for label, fe in run.first_errors.items():
        decided = [x for x in fe if x is not None]
        rows.append([label, len(decided), sum(1 for x in decided if x == -1), len(fe) - len(decided)])
    return _img(_plots.first_error_plot(run.first_errors), "first-error histogram") + _table(
        ["label", "decided", "no error found", "undecided"], rows
    )


def _graders(run: RunData) -> str:
    if not run.evals:
        return _missing("eval.json, or graded.jsonl with truth and grader labels")
    rows, names, f1s, toks = [], [], [], []
    for label, rep in run.evals.items():
        pb = rep["processbench"]
        splits = pb.get("splits", {})
        one = next(iter(splits.values())) if len(splits) == 1 else {}
        per = rep["cost"].get("per_trajectory", {})
        tokens = float(per.get("tokens_in", 0)) + float(per.get("tokens_out", 0))
        steps = rep.get("steps", {})
        ece = (rep.get("calibration") or {}).get("ece")
        rows.append([label, rep.get("trajectories"), pb.get("average_f1"), one.get("acc_error"),
                     one.get("acc_correct"), steps.get("f1"), steps.get("negative_f1"), ece,
                     per.get("calls"), tokens, per.get("seconds")])
        names.append(label)
        f1s.append(pb.get("average_f1") or 0.0)
        toks.append(tokens)
    table = _table(["label", "trajectories", "first-error F1", "acc (erroneous)", "acc (correct)", "step F1",
                    "negative F1", "ECE", "calls / traj", "tokens / traj", "seconds / traj"], rows)
    return _img(_plots.f1_cost_plot(names, f1s, toks), "grader F1 and cost") + table


def _calibration(run: RunData) -> str:
    curves = {k: r["calibration"]["bins"] for k, r in run.evals.items() if (r.get("calibration") or {}).get("bins")}
    if not curves:
        return _missing("a score-valued label evaluated against truth")
    rows = [[k, run.evals[k]["calibration"].get("ece"), run.evals[k]["calibration"].get("n")] for k in curves]
    return _img(_plots.calibration_plot(curves), "calibration curve") + _table(["label", "ECE", "steps"], rows)


def _steprm(run: RunData) -> str:
    if not run.steprm:
        return _missing(f"steprm/ with a StepRM ({', '.join(STEPRM_CONFIGS)})")
    t = run.steprm.get("training", {})
    rows = [[k, t.get(k)] for k in ("examples", "dev_examples", "labelled_steps", "first_loss", "final_loss",
                                     "dev_loss", "dev_f1_vs_label", "seconds", "device")]
    rows = [["base", run.steprm.get("base")], ["label", run.steprm.get("label")],
            ["soft", run.steprm.get("soft")], ["threshold", run.steprm.get("threshold")], *rows]
    curve = t.get("loss_curve") or []
    return (_img(_plots.loss_plot(curve), "training loss") if curve else "") + _table(["", ""], rows)


def _search(run: RunData) -> str:
    s = run.search
    if not s:
        return _missing("search.json")
    marks = {name: (r["equal_token_n"], r["accuracy"]) for name, r in (s.get("step_search") or {}).items()}
    ns = [str(n) for n in s.get("ns", [])] or sorted(next(iter(s["curves"].values())), key=int)
    rows = [[m, *(c.get(n) for n in ns)] for m, c in s["curves"].items()]
    out = _img(_plots.accuracy_vs_n_plot(s["curves"], marks), "accuracy vs N")
    out += f"<p>Policy accuracy per sample: {_fmt(s.get('policy_accuracy'))}; generated tokens per sample: " \
           f"{_fmt(s.get('tokens_per_sample'))}; tasks: {_fmt(s.get('tasks'))}.</p>"
    out += _table(["method", *[f"N={n}" for n in ns]], rows)
    if marks:
        out += "<h3>Step-level search at equal generated tokens</h3>" + _table(
            ["search", "accuracy", "tokens / task", "equal-token N", "majority @N", "best-of-N (min) @N",
             "weighted (min) @N"],
            [[k, r["accuracy"], r["tokens_per_task"], r["equal_token_n"], *(r["at_nearest_n"].get(m) for m in
              ("majority", "best_of_n:min", "weighted_majority:min"))] for k, r in s["step_search"].items()])
    return out


_TITLES = {"overview": "Overview", "first-errors": "First-error histograms", "graders": "Graders: F1 and cost",
           "calibration": "Calibration", "steprm": "Step reward model", "search": "Search: accuracy vs N"}
_BUILDERS = {"overview": _overview, "first-errors": _first_errors, "graders": _graders,
             "calibration": _calibration, "steprm": _steprm, "search": _search}


def render_html(run: RunData, viewer: str | None = None) -> str:
    """The whole report as one HTML string (``viewer``: the step viewer's file name, linked)."""
    body = "".join(f'<section id="{k}"><h2>{_TITLES[k]}</h2>{_BUILDERS[k](run)}</section>' for k in SECTIONS)
    title = f"stepsieve report: {html.escape(run.root.name)}"
    link = ""
    if viewer is not None:
        link = (f'<p>Step by step, every label next to the truth (and screenshots with the action drawn): '
                f'<a href="{html.escape(viewer)}">{html.escape(viewer)}</a></p>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body><h1>{title}</h1>{link}{body}"
            f"<footer><p>stepsieve {__version__}</p></footer></body></html>\n")


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Read ``run_dir`` and write its report (default ``run_dir/report.html``) and, when the
    run has trajectories, the step viewer beside it (``steps.html``: the first 100, marked
    by ``curated.jsonl`` when the run has one)."""
    run = load_run(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    viewer = None
    if run.trajectories_file:
        curated = run.root / "curated.jsonl"
        viewer = "steps.html"
        write_viewer(
            run.root / run.trajectories_file,
            path.parent / viewer,
            curated=curated if curated.exists() else None,
            limit=100,
        )
    path.write_text(render_html(run, viewer), encoding="utf-8")
    return path
