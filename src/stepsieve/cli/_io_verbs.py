"""``stepsieve convert`` and ``stepsieve inspect``: thin verbs over stepsieve.trajectory.

Also home of ``ReadProgress``, the progress bar every file-reading verb can wrap around a
Reader: it appears only once a job has run for a second, on stderr, and only on a
terminal, so short runs and piped output stay clean.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from stepsieve._errors import ConfigError
from stepsieve._manifest import write_manifest
from stepsieve.cli._app import app
from stepsieve.formats import FORMATS, Reader, convert, open_reader
from stepsieve.trajectory import Summary, rejects_path

__all__ = ["ReadProgress", "parse_options"]

_FORMAT_HELP = "Format name: " + ", ".join(FORMATS.names()) + "."


class ReadProgress:
    """A rich progress bar over a Reader's position, shown after ``delay`` seconds."""

    def __init__(self, reader: Reader | None, label: str, delay: float = 1.0) -> None:
        self.reader = reader
        self.label = label
        self.delay = delay
        self.console = Console(stderr=True)
        self._t0 = time.monotonic()
        self._n = 0
        self._progress: Progress | None = None
        self._task: Any = None

    def __call__(self, _reader: Reader | None = None) -> None:
        """Call once per record; cheap (looks at the clock every 256 records)."""
        if _reader is not None:
            self.reader = _reader
        self._n += 1
        if self._n & 255:
            return
        if self._progress is None:
            if self.reader is None or time.monotonic() - self._t0 < self.delay or not self.console.is_terminal:
                return
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                console=self.console, transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.reader.size() or None)
        self._progress.update(self._task, completed=self.reader.position)  # type: ignore[union-attr]

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __enter__(self) -> ReadProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_options(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """``["neutral=correct", ...]`` -> ``{"neutral": "correct"}`` (the format coerces types)."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{flag} takes KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@app.command("convert")
def convert_cmd(
    src: Path = typer.Argument(
        ..., help="Input file (.jsonl, .json or .parquet), or a folder for --from formats that read one."
    ),
    dst: Path = typer.Argument(..., help="Output file; its suffix picks the container."),
    from_: str = typer.Option("stepsieve", "--from", help=_FORMAT_HELP),
    to: str = typer.Option("stepsieve", "--to", help=_FORMAT_HELP),
    on_error: str = typer.Option(
        "raise", "--on-error", help="raise: stop at the first bad record; skip: quarantine it."
    ),
    rejects: Path | None = typer.Option(None, "--rejects", help="Reject file (default OUT.rejected.jsonl)."),
    in_opt: list[str] | None = typer.Option(None, "--in-opt", help="Input format option KEY=VALUE (repeatable)."),
    out_opt: list[str] | None = typer.Option(None, "--out-opt", help="Output format option KEY=VALUE (repeatable)."),
) -> None:
    """Convert trajectories between formats, streaming; prints N read, N written, N rejected
    and writes OUT.manifest.json (input sha256, options, counts, version).

    Examples:

      stepsieve convert processbench.json traces.parquet --from processbench

      stepsieve convert prm800k.jsonl out.jsonl --from prm800k --in-opt neutral=correct

      stepsieve convert traces.jsonl trl.jsonl --to trl --on-error skip
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be raise or skip, got {on_error!r}")
    src_opts = parse_options(in_opt, "--in-opt")
    dst_opts = parse_options(out_opt, "--out-opt")
    with ReadProgress(None, f"converting {src.name}") as bar:
        stats = convert(
            src, dst, src_format=from_, dst_format=to, on_error=on_error,  # type: ignore[arg-type]
            rejects=rejects, src_options=src_opts, dst_options=dst_opts, on_record=bar,
        )
    write_manifest(
        dst, verb="convert", inputs=[src],
        options={"from": from_, "to": to, "on_error": on_error, "in_opt": src_opts, "out_opt": dst_opts},
        counts={"in": stats.read, "out": stats.written, "rejected": stats.rejected},
    )
    typer.echo(str(stats))
    if stats.rejected:
        Console(stderr=True).print(f"rejected records written to {rejects or rejects_path(dst)}")


@app.command("inspect")
def inspect_cmd(
    path: Path = typer.Argument(..., help="Trajectory file (.jsonl, .json or .parquet)."),
    from_: str = typer.Option("stepsieve", "--from", help=_FORMAT_HELP),
    in_opt: list[str] | None = typer.Option(None, "--in-opt", help="Input format option KEY=VALUE."),
    on_error: str = typer.Option("raise", "--on-error", help="raise, or skip bad records (counted)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON instead of tables."),
) -> None:
    """Counts, step-length stats, label stats per grader and first-error histograms.

    Examples:

      stepsieve inspect traces.jsonl

      stepsieve inspect processbench_gsm8k.json --from processbench --json

      stepsieve inspect ~/.claude/projects/myproj/SESSION.jsonl --from claude-code
    """
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error must be raise or skip, got {on_error!r}")
    reader = open_reader(path, from_, on_error=on_error, **parse_options(in_opt, "--in-opt"))  # type: ignore[arg-type]
    summary = Summary()
    with ReadProgress(reader, f"reading {path.name}") as bar:
        for t in reader:
            summary.add(t)
            bar()
    data = summary.to_dict()
    data["read"], data["rejected"] = reader.read, reader.rejected
    if as_json:
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    _render(path, data)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _render(path: Path, d: dict[str, Any]) -> None:
    console = Console()
    over = Table(title=f"{path.name}", show_header=False)
    spt, chars = d["steps_per_trajectory"], d["step_chars"]
    rows = [
        ("records read / rejected", f"{d['read']:,} / {d['rejected']:,}"),
        ("trajectories", _fmt(d["trajectories"])),
        ("steps", _fmt(d["steps"])),
        ("steps per trajectory (mean, min, max)", f"{_fmt(spt['mean'])}, {_fmt(spt['min'])}, {_fmt(spt['max'])}"),
        ("step chars (mean, p50, p95, max)",
         f"{_fmt(chars['mean'])}, {_fmt(chars['p50'])}, {_fmt(chars['p95'])}, {_fmt(chars['max'])}"),
        ("step kinds", ", ".join(f"{k} {v:,}" for k, v in d["kinds"].items()) or "-"),
        ("outcomes", ", ".join(f"{k} {v:,}" for k, v in d["outcomes"].items()) or "-"),
        ("actions", f"{sum(d['actions'].values()):,}"),
        ("actions by tool", ", ".join(f"{k} {v:,}" for k, v in d["actions"].items()) or "-"),
        ("observations / images", f"{d['observations']:,} / {d['images']:,}"),
        ("unknown events (kept in meta)", f"{d['unknown_events']:,}"),
    ]
    for k, v in rows:
        over.add_row(k, v)
    console.print(over)
    if not d["labels"]:
        console.print("no step labels")
        return
    labs = Table(title="labels per grader")
    for col in ("grader", "steps", "correct", "incorrect", "neutral", "undecided", "mean score"):
        labs.add_column(col, justify="left" if col == "grader" else "right")
    for name, st in d["labels"].items():
        v = st["verdicts"]
        counts = (_fmt(v.get(k, 0)) for k in ("correct", "incorrect", "neutral", "undecided"))
        labs.add_row(name, _fmt(st["steps"]), *counts, _fmt(st["mean_score"]))
    console.print(labs)
    for name, st in d["labels"].items():
        hist = Table(title=f"first error ({name}): step index, -1 = none")
        hist.add_column("first error", justify="right")
        hist.add_column("trajectories", justify="right")
        hist.add_column("", justify="left")
        top = max(st["first_error"].values(), default=1)
        for k, n in st["first_error"].items():
            hist.add_row(k, _fmt(n), "█" * max(1, round(30 * n / top)))
        console.print(hist)
