"""One read, two training files: curated SFT chat rows and step-level DPO rows.

``pipeline_file`` is ``curate`` (mask / truncate) → ``export --format openai-chat`` and
``pairs --format trl-dpo|step-dpo`` over the same input, reading it once:
``group_by_task`` → ``pairs_for_task`` → rows, and ``curate`` → ``chat_row``, the same
functions the verbs run. Each output gets its manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve._manifest import write_manifest
from stepsieve.curate._export import ExportOptions, chat_row, check_output, export_row, parquet_schema
from stepsieve.curate._filter import CurateOptions, CurateStats, curate
from stepsieve.curate._grading import Grading
from stepsieve.curate._group import GroupStats, group_by_task
from stepsieve.curate._input import InputReader
from stepsieve.curate._jobs import _fields, _pair_counts, _progress, _rejects
from stepsieve.curate._pairs import PairOptions, PairStats, pairs_for_task
from stepsieve.curate._rows import RowWriter

__all__ = ["pipeline_file"]


def pipeline_file(
    input: str | Path,
    chat_output: str | Path,
    pairs_output: str | Path,
    grading: Grading,
    curate_opts: CurateOptions,
    pair_opts: PairOptions,
    *,
    pairs_format: str = "trl-dpo",
    sep: str = "\n",
    on_error: str = "raise",
    progress: bool = False,
) -> dict[str, Any]:
    """Curate + chat rows to ``chat_output`` and pair rows to ``pairs_output``; returns the counts.

    Task groups are runs of adjacent trajectories (what sampling writes); a task seen again
    later is split, as ``group_by_task(contiguous=True)`` does (``split_tasks`` counts it).
    """
    if pairs_format not in ("trl-dpo", "step-dpo"):
        raise ConfigError(f"pairs_format must be trl-dpo or step-dpo, got {pairs_format!r}")
    if curate_opts.mode == "steps":
        raise ConfigError("pipeline_file curates in mask or truncate mode (one chat row per trajectory)")
    chat = ExportOptions(format="openai-chat", weight_label=curate_opts.weight_label)
    pex = ExportOptions(format=pairs_format, sep=sep)
    check_output(chat, chat_output)
    cst, pst = CurateStats(), PairStats()
    counts = _run(input, chat_output, pairs_output, grading, curate_opts, pair_opts, chat, pex,
                     on_error, progress, cst, pst)  # fmt: skip
    not_expr = cst.kept - counts["chat_rows"]
    counts["curate"] = {
        "in": counts["in"],
        "out": counts["chat_rows"],
        "rejected": counts["rejected_records"] + cst.n_rejected + not_expr,
        "rejected_by_reason": {**(cst.rejected or {}), **({"not_expressible": not_expr} if not_expr else {})},
    }
    counts["pairs"] = {"out": counts["pair_rows"], **_pair_counts(pst)}
    opts = {
        "grading": grading,
        "curate": curate_opts,
        "pairs": {**_fields(pair_opts), "format": pairs_format},
    }
    for out, part, labels in (
        (chat_output, "curate", [grading.label]),
        (pairs_output, "pairs", [grading.label, pair_opts.label]),
    ):
        write_manifest(out, verb=f"pipeline:{part}", inputs=[input], labels=labels, options=opts,
                       counts={"in": counts["in"], **counts[part]})  # fmt: skip
    return counts


def _run(
    input: str | Path,
    chat_output: str | Path,
    pairs_output: str | Path,
    grading: Grading,
    copts: CurateOptions,
    popts: PairOptions,
    chat: ExportOptions,
    pex: ExportOptions,
    on_error: str,
    progress: bool,
    cst: CurateStats,
    pst: PairStats,
) -> dict[str, Any]:
    """Group → pairs → rows, and curate → chat rows, one task at a time."""
    reader = InputReader(input, on_error=on_error, rejects_to=_rejects(chat_output))
    gst = GroupStats()
    n_steps = 0
    with RowWriter(chat_output) as cw, RowWriter(pairs_output, schema=parquet_schema(pex)) as pw:
        for group in group_by_task(
            _progress(reader, reader, progress, "pipeline"), contiguous=True, stats=gst
        ):
            n_steps += sum(len(t.steps) for t in group)
            for p in pairs_for_task(group, grading, popts, stats=pst):
                pw.write(export_row(p, pex))  # type: ignore[arg-type]
            for t in curate(group, grading, copts, cst):
                row = chat_row(t, chat)
                if row is not None:
                    cw.write(row)
    return {
        "in": reader.read,
        "steps": n_steps,
        "rejected_records": reader.rejected,
        "split_tasks": gst.split_tasks,
        "chat_rows": cw.count,
        "pair_rows": pw.count,
    }
