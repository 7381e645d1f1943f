"""Columnar curation (mask / truncate) and OpenAI chat rows, over a ``Block``'s arrays.

The same rules as ``_filter.curate`` and ``_export.chat_row`` (the reference), computed per
step with numpy: a step's status is a table lookup of its verdict code, the first error is
the first ``bad`` position of its trajectory, and weights compare a step's position with
that index. ``tests/curate/test_columnar.py`` holds the two paths equal.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepsieve.curate._columnar_read import V_CORRECT, V_INCORRECT, V_NEUTRAL, V_NONE, Block, LabelCols
from stepsieve.curate._columnar_text import cat, gather_join
from stepsieve.curate._filter import CurateOptions
from stepsieve.curate._grading import Grading

__all__ = ["chat_lines", "curate_weights", "positions", "verdict_codes"]

GOOD, CTX, BAD = 0, 1, 2
_POLICY = {"keep": GOOD, "mask": CTX, "error": BAD}


def verdict_codes(lab: LabelCols, grading: Grading) -> np.ndarray:
    """``Grading.verdict`` of every step as a code (V_NONE: unscored)."""
    if grading.threshold is None:
        return np.where(lab.present, lab.verdict, V_NONE).astype(np.int8)
    return np.where(
        lab.has_score, np.where(lab.score >= grading.threshold, V_CORRECT, V_INCORRECT), V_NONE
    ).astype(np.int8)


def positions(b: Block) -> tuple[np.ndarray, np.ndarray]:
    """(row of each step, position of each step within its trajectory)."""
    lens = np.diff(b.starts)
    rows = np.repeat(np.arange(b.n, dtype=np.int64), lens)
    pos = np.arange(len(rows), dtype=np.int64) - b.starts[:-1][rows]
    return rows, pos


def first_pos(mask: np.ndarray, rows: np.ndarray, pos: np.ndarray, n: int, lens: np.ndarray) -> np.ndarray:
    """Per trajectory, the first position where ``mask`` holds, else its length."""
    out = lens.astype(np.int64).copy()
    hit = np.flatnonzero(mask)
    if len(hit):
        r, first = np.unique(rows[hit], return_index=True)
        out[r] = pos[hit[first]]
    return out


def curate_weights(
    b: Block, grading: Grading, opts: CurateOptions, codes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mask/truncate curation of a block: (kept, keep_len, weight per step, reason per row).

    ``reason``: 0 kept, 1 ``error_at_first_step``, 2 ``no_trainable_step``.
    """
    if opts.mode not in ("mask", "truncate"):
        raise ValueError("the columnar engine curates in mask and truncate modes")
    if codes is None:
        codes = verdict_codes(b.labels[grading.label], grading)
    table = np.array([_POLICY[opts.unscored], GOOD, BAD, _POLICY[opts.neutral]], dtype=np.int8)
    status = table[codes]
    rows, pos = positions(b)
    lens = np.diff(b.starts)
    fb = first_pos(status == BAD, rows, pos, b.n, lens)
    after = opts.resolved_after_error
    if after == "drop":
        keep = fb.copy()
        if opts.mode == "mask":
            keep = np.where(fb < lens, fb + 1, fb)
    else:
        keep = lens.astype(np.int64)
    fbs = fb[rows]
    good = status == GOOD
    w = np.where(pos < fbs, good.astype(np.float64), 0.0)
    w = np.where(pos == fbs, opts.error_weight, w)
    if after == "grade":
        w = np.where((pos > fbs) & good, 1.0, w)
    in_keep = pos < keep[rows]
    wk = np.where(in_keep, w, -1.0)
    maxw = np.full(b.n, -1.0)
    np.maximum.at(maxw, rows, wk)
    bad = (keep < opts.min_steps) | (keep == 0) | (maxw <= 0)
    reason = np.where(bad, np.where(fb == 0, 1, 2), 0).astype(np.int8)
    return ~bad, keep, w, reason


def chat_lines(
    b: Block, select: np.ndarray, keep: np.ndarray, trained_w: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """``chat_row`` JSON lines of the selected trajectories (their first ``keep`` steps).

    ``trained_w``: the 0/1 message weight of every step. Returns (lines, expressible): a row
    with no trained step is not expressible (``chat_row`` returns None) and gets no line.
    """
    rows, pos = positions(b)
    in_row = select[rows] & (pos < keep[rows])
    trained = np.zeros(b.n, dtype=np.int64)
    np.add.at(trained, rows[in_row], trained_w[in_row])
    ok = select & (trained > 0)
    th = b.thought
    content = b.escaped("text")
    if th.null_count < len(th):
        has_th = pc.and_(th.is_valid(), pc.not_equal(th, "")).fill_null(False)
        content = pc.if_else(has_th, cat(b.escaped("thought").fill_null(""), "\\n", content), content)
    wstr = pc.if_else(pa.array(trained_w.astype(bool)), "1", "0")
    piece = cat(',{"role":"assistant","content":"', content, '","weight":', wstr, "}")
    obs = b.observation
    if obs.null_count < len(obs):
        op = cat(',{"role":"user","content":"', b.escaped("observation").fill_null(""), '"}')
        piece = cat(piece, pc.if_else(obs.is_valid(), op, ""))
    idx = np.flatnonzero(ok)
    starts = b.starts[:-1][idx]
    body = gather_join(piece, starts, starts + keep[idx])
    task = b.escaped("task").take(pa.array(idx))
    lines = cat('{"messages":[{"role":"user","content":"', task, '"}', body, "]}\n")
    return lines, ok


def chat_table(
    b: Block, select: np.ndarray, keep: np.ndarray, trained_w: np.ndarray, schema: pa.Schema
) -> tuple[dict[str, pa.Array], np.ndarray]:
    """``chat_row`` rows as the ``messages`` column of the openai-chat Parquet schema.

    Messages are ordered by (trajectory, slot): the task first, then per kept step its
    assistant message and, when it has one, the observation as a user message.
    """
    rows, pos = positions(b)
    in_row = select[rows] & (pos < keep[rows])
    trained = np.zeros(b.n, dtype=np.int64)
    np.add.at(trained, rows[in_row], trained_w[in_row])
    ok = select & (trained > 0)
    idx = np.flatnonzero(ok)
    steps = np.flatnonzero(ok[rows] & (pos < keep[rows]))
    th = b.thought
    content = b.text
    if th.null_count < len(th):
        has_th = pc.and_(th.is_valid(), pc.not_equal(th, "")).fill_null(False)
        content = pc.if_else(has_th, cat(th.fill_null(""), "\n", b.text), b.text)
    obs_valid = np.asarray(b.observation.is_valid().to_numpy(zero_copy_only=False), bool)
    obs_steps = steps[obs_valid[steps]]
    sel = pa.array
    role = (
        pa.concat_arrays(
            [
                pa.repeat("user", len(idx)),
                pa.repeat("assistant", len(steps)),
                pa.repeat("user", len(obs_steps)),
            ]
        ).cast(pa.string())
        if len(idx)
        else pa.array([], pa.string())
    )
    text = pa.concat_arrays(
        [b.task.take(sel(idx)), content.take(sel(steps)), b.observation.take(sel(obs_steps))]
    )
    weight = pa.concat_arrays(
        [
            pa.nulls(len(idx), pa.int64()),
            sel(trained_w[steps].astype(np.int64)),
            pa.nulls(len(obs_steps), pa.int64()),
        ]
    )
    row_of = np.concatenate([idx, rows[steps], rows[obs_steps]])
    slot = np.concatenate([np.full(len(idx), -1), 2 * pos[steps], 2 * pos[obs_steps] + 1])
    order = np.lexsort((slot, row_of))
    msg_t = schema.field("messages").type.value_type
    nulls = {f.name: pa.nulls(len(order), f.type) for f in msg_t}
    cols = {**nulls, "role": role, "content": text, "weight": weight}
    take = sel(order)
    msgs = pa.StructArray.from_arrays(
        [cols[f.name].take(take) if f.name in ("role", "content", "weight") else cols[f.name] for f in msg_t],
        fields=list(msg_t),
    )
    counts = np.bincount(row_of, minlength=b.n)[idx]
    offsets = np.zeros(len(idx) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return {
        "messages": pa.ListArray.from_arrays(pa.array(offsets), msgs, type=schema.field("messages").type)
    }, ok


def chat_weights_from_label(b: Block, weight_label: str) -> np.ndarray:
    """``chat_row``'s weight of each step from its weight label: 1 when absent or score >= 0.5."""
    lab = b.labels[weight_label]
    return np.where(lab.has_score, lab.score >= 0.5, True).astype(np.int64)


__all__ += ["BAD", "CTX", "GOOD", "V_NEUTRAL", "chat_weights_from_label", "first_pos"]
