"""The columnar engine's file jobs: pairs rows, OpenAI chat rows, and curate + pairs + export in one read.

A second execution engine behind the same verbs (``_jobs`` routes to it): the input is
read in chunks into Arrow columns (``_columnar_read``), products are computed with numpy
and Arrow kernels per block of whole tasks (``_columnar_curate``, ``_columnar_pairs``) and
written as JSONL lines assembled by string kernels or as Parquet tables. Output goes to
``<path>.partial`` and is renamed on success; ``ColumnarUnsupported`` (an input or option
this engine does not reproduce exactly) removes the partial file, and the caller runs the
record path — the reference — instead. Memory is bounded by the chunk size plus one
block's rows, not by the file.

Which engine ran, and why a fallback happened, goes into the manifest (``engine``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from stepsieve.curate._columnar_curate import chat_lines, chat_table, chat_weights_from_label, curate_weights
from stepsieve.curate._columnar_pairs import block_pairs, pair_columns
from stepsieve.curate._columnar_read import ColumnarUnsupported, read_blocks
from stepsieve.curate._columnar_text import write_lines
from stepsieve.curate._export import ExportOptions, parquet_schema
from stepsieve.curate._filter import CurateOptions, CurateStats
from stepsieve.curate._grading import Grading
from stepsieve.curate._pairs import PairOptions, PairStats
from stepsieve.curate._rows import RowWriter, container_for

__all__ = ["ColumnarUnsupported", "chat_file_columnar", "pairs_file_columnar", "pipeline_columnar"]


def _arrow_errors(fn: Any) -> Any:
    """An Arrow error inside the engine means an input it does not cover: fall back, never crash."""
    import functools

    @functools.wraps(fn)
    def run(*a: Any, **k: Any) -> Any:
        try:
            return fn(*a, **k)
        except pa.ArrowException as e:
            raise ColumnarUnsupported(f"Arrow: {e}") from None

    return run


def _input_ok(path: str | Path) -> None:
    if Path(path).suffix.lower() not in (".jsonl", ".ndjson"):
        raise ColumnarUnsupported("input is not JSONL")
    try:
        from stepsieve.formats.stepsieve import Stepsieve  # noqa: F401
    except ImportError:  # pragma: no cover
        raise ColumnarUnsupported("canonical format unavailable") from None


class _Out(RowWriter):
    """A ``RowWriter`` (``.partial`` renamed on success, removed on failure) that also takes
    whole Arrow blocks: pre-rendered JSONL lines, or Parquet columns in the schema's order."""

    def lines(self, lines: pa.Array) -> None:
        self.count += len(lines)
        write_lines(self._fh, lines)

    def table(self, cols: dict[str, pa.Array]) -> None:
        self._flush()  # opens the Parquet writer with the schema (no buffered rows here)
        n = len(next(iter(cols.values())))
        self.count += n
        if n:
            self._pq.write_table(
                pa.Table.from_arrays([cols[f.name] for f in self.schema], schema=self.schema)
            )


def _chat(
    out: _Out, b: Any, select: np.ndarray, keep: np.ndarray, w: np.ndarray, schema: pa.Schema
) -> np.ndarray:
    """Write the chat rows of a block (lines or a Parquet table); returns which were expressible."""
    if out.container == "jsonl":
        lines, ok = chat_lines(b, select, keep, w)
        out.lines(lines)
    else:
        cols, ok = chat_table(b, select, keep, w, schema)
        out.table(cols)
    return ok


def _write(out: _Out, rows: pa.Array | dict[str, pa.Array]) -> None:
    """JSON lines (one string array) or Parquet columns (a dict), as ``pair_columns`` made them."""
    if isinstance(rows, dict):
        out.table(rows)
    else:
        out.lines(rows)


@contextmanager
def _outputs(*outs: tuple[str | Path, Any]) -> Iterator[list[_Out]]:
    opened: list[_Out] = []
    try:
        for path, schema in outs:
            opened.append(_Out(path, schema))
        yield opened
    except BaseException:
        for o in opened:
            o.close(ok=False)
        raise
    for o in opened:
        o.close(ok=True)


@contextmanager
def _bar(path: str | Path, st: dict[str, int], enabled: bool, what: str) -> Iterator[Any]:
    """A rich progress bar over the input's bytes (``tick()`` after each block)."""
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(what), BarColumn(), TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(what, total=os.path.getsize(path))
        yield lambda: bar.update(task, completed=st.get("position", 0))


def _pair_labels(grading: Grading, opts: PairOptions) -> dict[str, bool]:
    labels = {grading.label: False}
    labels[opts.label] = True
    labels[opts.rollout_label or opts.label] = True  # read to refuse recorded rollouts
    return labels


@_arrow_errors
def pairs_file_columnar(
    input: str | Path,
    output: str | Path,
    grading: Grading,
    opts: PairOptions,
    export: ExportOptions,
    *,
    contiguous: bool = False,
    progress: bool = False,
) -> tuple[dict[str, Any], PairStats, dict[str, int]]:
    """``pairs_file`` for ``trl-dpo`` / ``step-dpo`` rows: (counts, pair stats, read stats)."""
    _input_ok(input)
    if export.format not in ("trl-dpo", "step-dpo"):
        raise ColumnarUnsupported(f"pairs format {export.format!r}")
    st: dict[str, int] = {}
    pst = PairStats()
    jsonl = container_for(output) == "jsonl"
    with _outputs((output, parquet_schema(export))) as (out,), _bar(input, st, progress, "pairs") as tick:
        for b in read_blocks(str(input), _pair_labels(grading, opts), contiguous=contiguous, stats=st):
            p = block_pairs(b, grading, opts, pst)
            rows = pair_columns(b, p, export.format, export.sep, jsonl)
            _write(out, rows)
            tick()
    return {"out": out.count}, pst, st


@_arrow_errors
def chat_file_columnar(
    input: str | Path, output: str | Path, opts: ExportOptions, *, progress: bool = False
) -> tuple[dict[str, Any], dict[str, int]]:
    """``export_file`` for ``openai-chat`` rows from (curated) trajectories, JSONL output."""
    _input_ok(input)
    if opts.format != "openai-chat":
        raise ColumnarUnsupported(f"export format {opts.format!r}")
    st: dict[str, int] = {}
    bad = 0
    schema = parquet_schema(opts)
    with _outputs((output, schema)) as (out,), _bar(input, st, progress, "export") as tick:
        for b in read_blocks(str(input), {opts.weight_label: False}, chat=True, stats=st):
            w = chat_weights_from_label(b, opts.weight_label)
            ok = _chat(out, b, np.ones(b.n, bool), np.diff(b.starts), w, schema)
            bad += int(b.n - ok.sum())
            tick()
    return {"out": out.count, "not_expressible": bad}, st


@_arrow_errors
def pipeline_columnar(
    input: str | Path,
    chat_output: str | Path,
    pairs_output: str | Path,
    grading: Grading,
    copts: CurateOptions,
    popts: PairOptions,
    *,
    chat: ExportOptions | None = None,
    pairs: ExportOptions | None = None,
    contiguous: bool = True,
    cst: CurateStats | None = None,
    pst: PairStats | None = None,
    progress: bool = False,
) -> dict[str, int]:
    """One read, three products: curate (mask/truncate) → OpenAI chat JSONL, and pairs → DPO rows.

    The record-path equivalent is ``group_by_task`` → ``pairs_for_task`` → ``dpo_row`` and
    ``curate`` → ``chat_row`` (what ``benchmarks/curation.py`` times side by side).
    """
    _input_ok(input)
    chat = chat or ExportOptions(format="openai-chat")
    pairs = pairs or ExportOptions(format="trl-dpo")
    if copts.mode not in ("mask", "truncate"):
        raise ColumnarUnsupported(f"curate mode {copts.mode!r}")
    cst = cst if cst is not None else CurateStats()
    pst = pst if pst is not None else PairStats()
    st: dict[str, int] = {}
    labels = _pair_labels(grading, popts)
    pj = container_for(pairs_output) == "jsonl"
    reasons = ("error_at_first_step", "no_trainable_step")
    n_steps = 0
    chat_schema = parquet_schema(chat)
    outs = ((chat_output, chat_schema), (pairs_output, parquet_schema(pairs)))
    with _outputs(*outs) as (co, po), _bar(input, st, progress, "curate") as tick:
        for b in read_blocks(str(input), labels, chat=True, contiguous=contiguous, stats=st):
            n_steps += int(b.starts[-1])
            p = block_pairs(b, grading, popts, pst)
            rows = pair_columns(b, p, pairs.format, pairs.sep, pj)
            _write(po, rows)
            kept, keep, w, reason = curate_weights(b, grading, copts)
            cst.seen += b.n
            cst.kept += int(kept.sum())
            cst.rows += int(kept.sum())
            for code, name in enumerate(reasons, start=1):
                k = int((reason == code).sum())
                if k:
                    cst.rejected = cst.rejected or {}
                    cst.rejected[name] = cst.rejected.get(name, 0) + k
            _chat(co, b, kept, keep, (w >= 0.5).astype(np.int64), chat_schema)
            tick()
    return {
        "records": st["read"],
        "steps": n_steps,
        "pairs": po.count,
        "chat_rows": co.count,
        "split_tasks": st["split_tasks"],
    }
