"""File-level curation jobs: read, transform, write, and leave a manifest beside the output.

These are what the CLI verbs call (and what a script calls to get the same files):
``curate_file``, ``pairs_file``, ``credit_file``, ``export_file``. Each streams its input
through the shared reader (``--on-error skip`` quarantines bad records to
``<output>.rejected.jsonl``), shows a progress bar when asked, and returns the counts it
wrote into ``<output>.manifest.json``. In every manifest ``in == accepted + rejected_records``
(the reader's view); verbs that keep or drop whole trajectories also satisfy
``in == out + rejected``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from stepsieve._errors import ConfigError, DataError
from stepsieve._manifest import write_manifest
from stepsieve.curate._credit import CreditOptions, credit
from stepsieve.curate._export import (
    LF_FORMATS,
    MEDIA_FORMATS,
    WEIGHT_FORMATS,
    ExportOptions,
    check_output,
    export_row,
    export_rows,
    parquet_schema,
)
from stepsieve.curate._filter import CurateOptions, CurateStats, curate
from stepsieve.curate._grading import Grading
from stepsieve.curate._group import GroupStats, group_by_task
from stepsieve.curate._input import InputReader
from stepsieve.curate._llamafactory import LfCounts, write_dataset_info
from stepsieve.curate._pairs import PairOptions, PairStats, Sampler, StepPair, make_pairs
from stepsieve.curate._rows import RowWriter
from stepsieve.curate._vision_export import ExportMedia
from stepsieve.trajectory import Trajectory

__all__ = ["credit_file", "curate_file", "export_file", "pairs_file", "read_pairs"]


def _rejects(output: str | Path) -> Path:
    return Path(f"{output}.rejected.jsonl")


def _progress(it: Iterable[Any], reader: InputReader | None, enabled: bool, what: str) -> Iterator[Any]:
    """Pass items through, advancing a rich progress bar over the input's bytes."""
    if not enabled:
        yield from it
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    inner = getattr(reader, "_reader", None)
    try:
        total = inner.size() if inner is not None and hasattr(inner, "size") else None
    except OSError:  # a missing input: the reader itself says so, naming the file, when iterated
        total = None
    with Progress(
        TextColumn(what),
        BarColumn(),
        TextColumn("{task.completed:,.0f}"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=total)
        for i, x in enumerate(it):
            if i % 512 == 0 and inner is not None:
                bar.update(task, completed=getattr(inner, "position", 0))
            yield x


def _write_trajectories(ts: Iterable[Trajectory], output: str | Path, input: str | Path) -> int:
    """Canonical records through the shared writer (.jsonl or .parquet, atomic on success),
    their images carried from beside ``input`` into ``output``'s media folder."""
    from stepsieve.formats import open_writer

    with open_writer(output, media_from=input) as w:
        for t in ts:
            w.write(t)
    return w.written


def curate_file(
    input: str | Path,
    output: str | Path,
    grading: Grading,
    opts: CurateOptions,
    *,
    on_error: str = "raise",
    progress: bool = False,
) -> dict[str, Any]:
    """Filter / truncate / mask ``input`` into curated trajectories at ``output`` (.jsonl)."""
    reader = InputReader(input, on_error=on_error, rejects_to=_rejects(output))
    st = CurateStats()
    rows = _write_trajectories(
        curate(_progress(reader, reader, progress, "curate"), grading, opts, st), output, input
    )
    counts = {
        "in": reader.read,
        "out": st.kept,
        "rejected": reader.rejected + st.n_rejected,
        "rejected_records": reader.rejected,
        "rejected_by_reason": st.rejected or {},
        "rows": rows,
    }
    write_manifest(
        output,
        verb="curate",
        inputs=[input],
        labels=[grading.label],
        options={"grading": grading, "curate": opts},
        counts=counts,
    )
    return counts


def pairs_file(
    input: str | Path,
    output: str | Path,
    grading: Grading,
    opts: PairOptions,
    *,
    fmt: str = "pairs",
    export: ExportOptions | None = None,
    sep: str = "\n",
    sampler: Sampler | None = None,
    max_open: int = 1024,
    contiguous: bool = False,
    on_error: str = "raise",
    progress: bool = False,
) -> dict[str, Any]:
    """Step-level pairs of ``input``: StepPair records (``fmt="pairs"``) or rows of ``trl-dpo``/``step-dpo``."""
    if fmt != "pairs":
        export = export or ExportOptions(format=fmt)
        if not export.wants_pairs:
            raise ConfigError(f"pairs export to {fmt!r} is not a pair format (use trl-dpo or step-dpo)")
    if max_open < 1:
        raise ConfigError(f"max_open must be at least 1, got {max_open}")
    reader = InputReader(input, on_error=on_error, rejects_to=_rejects(output))
    gst, pst = GroupStats(), PairStats()
    groups = group_by_task(
        _progress(reader, reader, progress, "pairs"), max_open=max_open, contiguous=contiguous, stats=gst
    )
    schema = parquet_schema(export) if export is not None else None
    with RowWriter(output, schema=schema) as w:
        if export is None and w.container != "jsonl":
            raise ConfigError(f"{output}: pair records are written as .jsonl (export them to Parquet)")
        for p in make_pairs(groups, grading, opts, sampler=sampler, stats=pst):
            w.write(p.to_dict(sep) if export is None else export_row(p, export))  # type: ignore[arg-type]
    counts = {
        "in": reader.read,
        "accepted": reader.accepted,
        "rejected": reader.rejected,
        "out": w.count,
        **_pair_counts(pst),
        "split_tasks": gst.split_tasks,
    }
    _pairs_manifest(input, output, grading, opts, fmt, max_open, contiguous, sampler, counts)
    return counts


def _pair_counts(pst: PairStats) -> dict[str, Any]:
    return {
        "tasks": pst.tasks,
        "candidates": pst.candidates,
        "duplicates": pst.duplicates,
        "capped": pst.capped,
        "no_chosen": pst.no_chosen,
        "inconsistent": pst.inconsistent,
        "by_source": pst.by_source,
    }


def _pairs_manifest(
    input: str | Path,
    output: str | Path,
    grading: Grading,
    opts: PairOptions,
    fmt: str,
    max_open: int,
    contiguous: bool,
    sampler: Sampler | None,
    counts: dict[str, Any],
) -> None:
    write_manifest(
        output,
        verb="pairs",
        inputs=[input],
        labels={grading.label, opts.label, opts.rollout_label or opts.label},
        options={
            "grading": grading,
            "pairs": {**_fields(opts), "format": fmt},
            "group": {"max_open": max_open, "contiguous": contiguous},
            "sampler": None if sampler is None else getattr(sampler, "config", repr(sampler)),
        },
        counts=counts,
    )


def credit_file(
    input: str | Path,
    output: str | Path,
    opts: CreditOptions,
    *,
    max_open: int = 1024,
    contiguous: bool = False,
    on_error: str = "raise",
    progress: bool = False,
) -> dict[str, Any]:
    """Write per-step advantages (label ``opts.name``) into the trajectories of ``input``."""
    reader = InputReader(input, on_error=on_error, rejects_to=_rejects(output))
    gst = GroupStats()
    groups = group_by_task(
        _progress(reader, reader, progress, "credit"), max_open=max_open, contiguous=contiguous, stats=gst
    )
    n = _write_trajectories(credit(groups, opts), output, input)
    counts = {
        "in": reader.read,
        "out": n,
        "rejected": reader.rejected,
        "tasks": gst.groups,
        "split_tasks": gst.split_tasks,
    }
    write_manifest(
        output,
        verb="credit",
        inputs=[input],
        labels=[opts.label, opts.name],
        options={"credit": opts, "group": {"max_open": max_open, "contiguous": contiguous}},
        counts=counts,
    )
    return counts


def read_pairs(path: str | Path) -> Iterator[StepPair]:
    """Stream the StepPair records of a pairs JSONL file (errors name file and line)."""
    p = str(path)
    with open(p, "rb") as fh:
        for line, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield StepPair.from_dict(orjson.loads(raw))
            except orjson.JSONDecodeError as e:
                raise DataError(f"malformed JSON: {e}", path=p, line=line) from None
            except DataError as e:
                raise e.located(path=p, line=line) from None


def export_file(
    input: str | Path,
    output: str | Path,
    opts: ExportOptions,
    *,
    on_error: str = "raise",
    progress: bool = False,
) -> dict[str, Any]:
    """Export trajectories (stepwise, chat) or pairs (trl-dpo, step-dpo) to .jsonl or .parquet."""
    reader: InputReader | None = None
    records: Iterable[Any]
    if opts.wants_pairs:
        records = read_pairs(input)
    else:
        reader = InputReader(input, on_error=on_error, rejects_to=_rejects(output))
        records = reader
    check_output(opts, output)
    media = ExportMedia(input, output) if opts.format in MEDIA_FORMATS else None
    lf = LfCounts()
    n_in = n_bad = n_images = 0
    with RowWriter(output, schema=parquet_schema(opts)) as w:
        for r in _progress(records, reader, progress, "export"):
            if reader is None:
                n_in += 1
            try:
                rows = export_rows(r, opts, media, lf)
            except DataError as e:  # an image missing, altered or not an image
                if reader is None or on_error != "skip":
                    raise
                reader.reject(r, e.reason)
                n_images += 1
                continue
            if not rows:
                n_bad += 1
            for row in rows:
                w.write(row)
    rejected_records = reader.rejected if reader is not None else 0
    by_reason = {**({"not_expressible": n_bad} if n_bad else {}), **({"bad_image": n_images} if n_images else {})}
    counts: dict[str, Any] = {
        "in": reader.read if reader is not None else n_in,
        "out": w.count,
        "rejected": rejected_records + n_bad + n_images,
        "rejected_records": rejected_records,
        "rejected_by_reason": by_reason,
    }
    if opts.format in LF_FORMATS:  # out counts trajectories (in == out + rejected); rows: one per kept turn
        counts["rows"] = w.count
        counts["out"] = counts["in"] - counts["rejected"]
        if lf.turns_not_expressible:
            counts["turns_not_expressible"] = lf.turns_not_expressible
        write_dataset_info(output, vision=opts.format == "llamafactory-vision")
    if media is not None:
        counts["images"] = media.used
        if media.left_out:
            counts["images_left_out"] = media.left_out
    labels = [opts.label] if opts.format == "trl-stepwise" else [opts.weight_label] if opts.format in WEIGHT_FORMATS \
        else []
    write_manifest(output, verb="export", inputs=[input], labels=labels, options=opts, counts=counts)
    return counts


def _fields(o: Any) -> dict[str, Any]:
    return {f: getattr(o, f) for f in o.__dataclass_fields__ if f != "split_steps"}
