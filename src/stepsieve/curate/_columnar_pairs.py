"""Columnar step-level pairs (siblings + Step-DPO) over a ``Block``: the TaskTree as arrays.

Same products, same order as ``_pairs.pairs_for_task`` (the reference), without a Python
object per step:

- **Prefix ids, depth by depth.** A tree node is a (parent node, normalised step text)
  pair. Step texts are dictionary-encoded once; at depth d every step's node is the
  ``np.unique`` of ``parent * K + text_id`` over the steps at that depth (parents are the
  nodes of depth d - 1; the root of task group g is node g). A node's first occurrence (the
  smallest flat step index) is where TaskTree would have created it, so insertion order,
  the node's raw text and ``occurrences[0]`` all follow from it.
- **Values** are ``np.bincount`` sums in step order (the same float additions in the same
  order as ``Node``), with the ``extra.shared`` rule: a shared count adds only when it is
  the node's first positive count.
- **Forks** are parents with two or more children, ordered by their second child's first
  occurrence (``TaskTree.forks``); sibling pairs are every (higher, lower) pair of a fork's
  valued children sorted by value (stable), generated with ``np.repeat``.
- **Step-DPO**: a trajectory's first error's parent node; the chosen step is the best
  other child graded correct (top two per parent, so the wrong node can be skipped).
- **De-duplication, balance, cap**: ``np.unique`` on (node, chosen key, rejected key) in
  candidate order, then a lexicographic sort by (task, rank within the prefix's bucket by
  gap, bucket's first appearance) reproduces the round-robin; the first ``max_per_task``
  of each task are kept.

Recorded rollouts and sampling are not covered (``_columnar_read`` refuses inputs that
carry rollouts; the job routes a sampler to the record path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stepsieve.curate._columnar_curate import first_pos, positions, verdict_codes
from stepsieve.curate._columnar_read import V_CORRECT, V_INCORRECT, Block, run_starts
from stepsieve.curate._columnar_text import cat, escape, gather_join, rows_with_bytes
from stepsieve.curate._grading import Grading
from stepsieve.curate._pairs import PairOptions, PairStats
from stepsieve.trajectory import normalize_step

__all__ = ["PairCols", "block_pairs", "pair_columns"]

_NOT_PRINTABLE_ASCII = np.ones(256, dtype=bool)
_NOT_PRINTABLE_ASCII[0x20:0x7F] = False


def key_ids(text: pa.Array) -> tuple[np.ndarray, int]:
    """Dictionary ids of ``normalize_step`` of every text (equal ids: the same tree key)."""
    # A text of printable ASCII without double or edge spaces is its own key (normalize_step
    # returns it unchanged); only the others go through normalize_step itself.
    slow = rows_with_bytes(text, _NOT_PRINTABLE_ASCII)
    t_np = None
    lens = pc.binary_length(text).to_numpy(zero_copy_only=False)
    nz = np.flatnonzero(lens > 0)
    if len(nz):
        off = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
        t_np = np.frombuffer(text.buffers()[2], dtype=np.uint8)
        edge = (t_np[off[nz]] == 32) | (t_np[off[nz + 1] - 1] == 32)
        dbl = pc.match_substring(text, "  ").to_numpy(zero_copy_only=False)
        slow = np.union1d(slow, np.union1d(nz[edge], np.flatnonzero(dbl)))
    keys = text
    if len(slow):
        fast = np.ones(len(text), dtype=bool)
        fast[slow] = False
        norm = [normalize_step(s) for s in text.take(pa.array(slow)).to_pylist()]
        keys = pc.replace_with_mask(text, pa.array(~fast), pa.array(norm, pa.string()))
    enc = pc.dictionary_encode(keys)
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), len(enc.dictionary)


@dataclass(slots=True)
class PairCols:
    """Kept pairs of a block, in output order, as indices into the block's arrays."""

    row: np.ndarray  # trajectory whose task is the pair's task
    prefix_lo: np.ndarray  # flat step range of the prefix
    prefix_hi: np.ndarray
    chosen: np.ndarray  # flat step index of the chosen / rejected text
    rejected: np.ndarray
    chosen_rest: np.ndarray  # flat ranges [x + 1, end of its trajectory)
    chosen_end: np.ndarray
    rejected_rest: np.ndarray
    rejected_end: np.ndarray
    source: np.ndarray  # 0 first_error, 1 sibling


def block_pairs(b: Block, grading: Grading, opts: PairOptions, st: PairStats) -> PairCols:
    """The pairs ``pairs_for_task`` makes for every task group of ``b`` (see module docstring)."""
    rows, pos = positions(b)
    m = len(rows)
    lens = np.diff(b.starts)
    ends = b.starts[1:]
    rs = run_starts(b.key)
    G = len(rs) - 1
    st.tasks += G
    grp_row = np.repeat(np.arange(G, dtype=np.int64), np.diff(rs))
    kid, K = key_ids(b.text)
    K = max(K, 1)
    # ---- nodes, depth by depth -------------------------------------------------------
    order = np.argsort(pos, kind="stable")
    dcount = np.bincount(pos, minlength=1)
    doff = np.concatenate([[0], np.cumsum(dcount)])
    step_node = np.empty(m, dtype=np.int64)
    parents = [np.full(G, -1, dtype=np.int64)]
    firsts = [np.full(G, -1, dtype=np.int64)]
    depths = [np.zeros(G, dtype=np.int64)]
    nxt = G
    for d in range(len(dcount)):
        idx = order[doff[d] : doff[d + 1]]
        par = grp_row[rows[idx]] if d == 0 else step_node[idx - 1]
        uniq, first_i, inv = np.unique(par * K + kid[idx], return_index=True, return_inverse=True)
        step_node[idx] = nxt + inv.reshape(-1)
        parents.append(uniq // K)
        firsts.append(idx[first_i])
        depths.append(np.full(len(uniq), d + 1, dtype=np.int64))
        nxt += len(uniq)
    N = nxt
    parent = np.concatenate(parents)
    first = np.concatenate(firsts)
    depth = np.concatenate(depths)
    # ---- values ------------------------------------------------------------------------
    V = b.labels[opts.label]
    cnt = V.present & V.has_counts & (V.n > 0)
    earliest = np.full(N, m, dtype=np.int64)
    hit = np.flatnonzero(cnt)
    np.minimum.at(earliest, step_node[hit], hit)
    contrib = cnt & (~V.shared | (np.arange(m) == earliest[step_node]))
    mc_n = np.bincount(step_node, weights=np.where(contrib, V.n, 0), minlength=N)
    mc_k = np.bincount(step_node, weights=np.where(contrib, V.k, 0), minlength=N)
    use_score = V.present & ~V.has_counts & V.has_score
    sc_n = np.bincount(step_node, weights=use_score, minlength=N)
    sc_sum = np.bincount(step_node, weights=np.where(use_score, V.score, 0.0), minlength=N)
    corr = b.correct[rows]
    o_n = np.bincount(step_node, weights=corr >= 0, minlength=N)
    o_k = np.bincount(step_node, weights=corr == 1, minlength=N)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(mc_n > 0, mc_k / mc_n, np.where(sc_n > 0, sc_sum / sc_n, o_k / o_n))
    valued = (mc_n > 0) | (sc_n > 0) | (o_n > 0)
    valued[:G] = False  # roots never pair
    codes = verdict_codes(b.labels[grading.label], grading)
    nverdict = np.where(first >= 0, codes[np.maximum(first, 0)], 0)
    node_row = np.where(first >= 0, rows[np.maximum(first, 0)], -1)
    group_start_row = rs[:-1]
    cands = []
    # ---- Step-DPO at the first error ---------------------------------------------------
    if "first_error" in opts.kinds:
        fe = first_pos(codes == V_INCORRECT, rows, pos, b.n, lens)
        r = np.flatnonzero(fe < lens)
        at = b.starts[r] + fe[r]
        wrong = step_node[at]
        par = parent[wrong]
        elig = np.flatnonzero((nverdict == V_CORRECT) & (parent >= 0))
        v0 = np.where(valued, value, 0.0)
        o = np.lexsort((first[elig], -v0[elig], parent[elig]))
        e_sorted = elig[o]
        ep = parent[e_sorted]
        head = np.ones(len(ep), dtype=bool)
        head[1:] = ep[1:] != ep[:-1]
        best1 = np.full(N, -1, dtype=np.int64)
        best2 = np.full(N, -1, dtype=np.int64)
        hi = np.flatnonzero(head)
        best1[ep[hi]] = e_sorted[hi]
        sec = hi + 1
        okk = sec < len(ep)
        sec_ok = sec[okk]
        same = ep[sec_ok] == ep[hi[okk]]
        best2[ep[sec_ok[same]]] = e_sorted[sec_ok[same]]
        best = np.where(best1[par] == wrong, best2[par], best1[par])
        has = best >= 0
        st.no_chosen += int((~has).sum())
        r, at, wrong, par, best = r[has], at[has], wrong[has], par[has], best[has]
        bf = first[best]
        gap = np.where(valued[best] & valued[wrong], value[best] - value[wrong], 1.0)
        cands.append(
            {
                "grp": grp_row[r], "phase": np.zeros(len(r), np.int64), "seq": r, "node": par,
                "ckey": kid[bf], "rkey": kid[at], "gap": gap, "row": r,
                "plo": b.starts[r], "phi": at, "chosen": bf, "rejected": at,
                "crest": bf + 1, "cend": ends[rows[bf]], "rrest": at + 1, "rend": ends[r],
            }
        )  # fmt: skip
    # ---- siblings at forks -------------------------------------------------------------
    if "sibling" in opts.kinds:
        nonroot = np.arange(G, N)
        cc = np.bincount(parent[nonroot], minlength=N)
        o = np.lexsort((first[nonroot], parent[nonroot]))
        srt = nonroot[o]
        sp = parent[srt]
        start_of = np.ones(len(sp), dtype=bool)
        start_of[1:] = sp[1:] != sp[:-1]
        is_second = np.zeros(len(sp), dtype=bool)
        is_second[1:] = start_of[:-1] & ~start_of[1:]
        second_first = np.full(N, -1, dtype=np.int64)
        second_first[sp[is_second]] = first[srt[is_second]]
        fork_rank = second_first  # forks ordered by when they gained their second child
        kids = nonroot[(cc[parent[nonroot]] >= 2) & valued[nonroot]]
        o = np.lexsort((first[kids], -value[kids], fork_rank[parent[kids]]))
        kids = kids[o]
        kp = parent[kids]
        gstart = np.ones(len(kp), dtype=bool)
        gstart[1:] = kp[1:] != kp[:-1]
        gidx = np.cumsum(gstart) - 1
        gpos0 = np.flatnonzero(gstart)
        size = np.diff(np.concatenate([gpos0, [len(kp)]]))
        local = np.arange(len(kp)) - gpos0[gidx]
        count = size[gidx] - 1 - local
        total = int(count.sum())
        a = np.repeat(np.arange(len(kp)), count)
        cstart = np.cumsum(count) - count
        bb = a + 1 + (np.arange(total) - np.repeat(cstart, count))
        an, bn = kids[a], kids[bb]
        keep = ~((value[an] - value[bn]) < opts.margin)
        if opts.consistent:
            bad = nverdict[an] == V_INCORRECT
            st.inconsistent += int((keep & bad).sum())
            keep &= ~bad
        an, bn, a = an[keep], bn[keep], a[keep]
        fork = parent[an]
        kid0 = kids[gpos0[gidx[a]]]
        r0 = node_row[kid0]
        fa, fb2 = first[an], first[bn]
        g = grp_row[node_row[an]]
        cands.append(
            {
                "grp": g, "phase": np.ones(len(an), np.int64), "seq": np.arange(len(an)), "node": fork,
                "ckey": kid[fa], "rkey": kid[fb2], "gap": value[an] - value[bn], "row": group_start_row[g],
                "plo": b.starts[r0], "phi": b.starts[r0] + depth[fork], "chosen": fa, "rejected": fb2,
                "crest": fa + 1, "cend": ends[rows[fa]], "rrest": fb2 + 1, "rend": ends[rows[fb2]],
            }
        )  # fmt: skip
    c = {
        k: np.concatenate([x[k] for x in cands]).astype(np.float64 if k == "gap" else np.int64)
        for k in cands[0]
    }
    nc = len(c["grp"])
    st.candidates += nc
    o = np.lexsort((c["seq"], c["phase"], c["grp"]))
    c = {k: v[o] for k, v in c.items()}
    # ---- de-duplicate, then round-robin over prefixes, largest gap first -----------------
    _, ck = np.unique(c["ckey"] * K + c["rkey"], return_inverse=True)
    ck = ck.reshape(-1)
    _, fi = np.unique(c["node"] * (int(ck.max(initial=0)) + 1) + ck, return_index=True)
    fi.sort()
    st.duplicates += nc - len(fi)
    c = {k: v[fi] for k, v in c.items()}
    nk = len(fi)
    ordn = np.arange(nk)
    _, bfirst, binv = np.unique(c["node"], return_index=True, return_inverse=True)
    bucket = bfirst[binv.reshape(-1)]
    o = np.lexsort((ordn, -c["gap"], c["node"]))
    rank = np.empty(nk, dtype=np.int64)
    bstart = np.ones(nk, dtype=bool)
    sn = c["node"][o]
    bstart[1:] = sn[1:] != sn[:-1]
    gi = np.cumsum(bstart) - 1
    rank[o] = np.arange(nk) - np.flatnonzero(bstart)[gi]
    o = np.lexsort((bucket, rank, c["grp"]))
    c = {k: v[o] for k, v in c.items()}
    g = c["grp"]
    gs = np.ones(nk, dtype=bool)
    gs[1:] = g[1:] != g[:-1]
    within = np.arange(nk) - np.flatnonzero(gs)[np.cumsum(gs) - 1] if nk else np.zeros(0, np.int64)
    sel = within < opts.max_per_task
    c = {k: v[sel] for k, v in c.items()}
    st.capped += nk - int(sel.sum())
    st.pairs += int(sel.sum())
    src = c["phase"]
    if len(src):  # by_source keeps the record path's order: first source seen first
        for code in dict.fromkeys([int(src[0]), 0, 1]):
            n_src = int((src == code).sum())
            if n_src:
                nm = "first_error" if code == 0 else "sibling"
                st.by_source[nm] = st.by_source.get(nm, 0) + n_src
    return PairCols(
        c["row"],
        c["plo"],
        c["phi"],
        c["chosen"],
        c["rejected"],
        c["crest"],
        c["cend"],
        c["rrest"],
        c["rend"],
        src,
    )


def pair_columns(
    b: Block, p: PairCols, fmt: str, sep: str, json_lines: bool
) -> pa.Array | dict[str, pa.Array]:
    """The rows of ``trl-dpo`` / ``step-dpo``: JSON lines, or the Parquet columns (unescaped)."""
    # escaping commutes with concatenation: escape each column once, then join the pieces
    col = b.escaped if json_lines else (lambda name: getattr(b, name))
    sep_e = escape(pa.array([sep]))[0].as_py() if json_lines else sep
    etext = col("text")
    obs = b.observation
    if obs.null_count == len(obs):
        step_sep = cat(etext, sep_e)  # render_step(s) + sep
    else:
        with_obs = cat(etext, "\\n" if json_lines else "\n", col("observation").fill_null(""), sep_e)
        step_sep = pc.if_else(obs.is_valid(), with_obs, cat(etext, sep_e))
    task = col("task").take(pa.array(p.row))
    prefix = gather_join(step_sep, p.prefix_lo, p.prefix_hi)
    chosen = etext.take(pa.array(p.chosen))
    rejected = etext.take(pa.array(p.rejected))
    if fmt == "trl-dpo":
        prompt = cat(task, sep_e, prefix)
        if not json_lines:
            return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
        return cat('{"prompt":"', prompt, '","chosen":"', chosen, '","rejected":"', rejected, '"}\n')
    sep_text = cat(sep_e, etext)
    full_c = cat(chosen, gather_join(sep_text, p.chosen_rest, p.chosen_end))
    full_r = cat(rejected, gather_join(sep_text, p.rejected_rest, p.rejected_end))
    if not json_lines:
        return {
            "prompt": task,
            "initial_reason_steps": prefix,
            "chosen": chosen,
            "rejected": rejected,
            "full_chosen": full_c,
            "full_rejected": full_r,
        }
    return cat(
        '{"prompt":"', task, '","initial_reason_steps":"', prefix, '","chosen":"', chosen,
        '","rejected":"', rejected, '","full_chosen":"', full_c, '","full_rejected":"', full_r, '"}\n',
    )  # fmt: skip
