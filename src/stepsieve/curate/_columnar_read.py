"""Reading canonical JSONL into columns: task-aligned blocks of Arrow/numpy arrays, no record per step.

The columnar engine (see ``_columnar_jobs``) never builds a ``Trajectory``: the file is cut
into chunks at line ends, each chunk is parsed by Arrow's C++ JSON reader into columns, and
only the columns the products need are kept (step texts, the grading label's verdict and
score, the value label's Monte Carlo counts...). A chunk's last task may continue in the
next chunk, so its rows are carried over: every ``Block`` yielded holds whole tasks.

Validation (``_columnar_check``) is conservative: the record path is the reference. A
chunk is parsed with Arrow's own type inference (fastest) and the inferred types are
checked field by field; where free-form content (``meta`` of mixed types) defeats
inference, the declared canonical schema is used instead. Anything doubtful raises
``ColumnarUnsupported`` with the reason and the job runs the record path, which accepts
the record or names file and line of the bad one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from stepsieve.curate._columnar_check import (
    VERDICTS,
    ColumnarUnsupported,
    check_cost_grader,
    check_inferred,
    check_nulls,
    declared_schema,
    discover_labels,
    field_of,
)

__all__ = ["Block", "ColumnarUnsupported", "LabelCols", "read_blocks", "run_starts"]

CHUNK_BYTES = 8 << 20  # memory is bounded by this (and the products' rows), not the file
V_NONE, V_CORRECT, V_INCORRECT, V_NEUTRAL = 0, 1, 2, 3  # verdict codes (VERDICTS order + 1)


@dataclass(slots=True)
class LabelCols:
    """One label's columns over the flattened steps (absent label: ``present`` False)."""

    present: np.ndarray  # bool: the step carries the label
    score: np.ndarray  # float64, NaN where null
    has_score: np.ndarray  # bool
    verdict: np.ndarray  # int8 codes (V_*)
    n: np.ndarray  # int64 Monte Carlo counts (extra.n / extra.n_correct), 0 where absent
    k: np.ndarray
    has_counts: np.ndarray  # bool: counts are ints with 0 <= k <= n (else the score is used)
    shared: np.ndarray  # bool: extra.shared is true


@dataclass(slots=True)
class Block:
    """Whole tasks of the input as columns: ``n`` trajectories, their steps flattened.

    ``starts[i]:starts[i+1]`` are trajectory i's steps in the step columns.
    """

    ids: pa.Array
    task: pa.Array
    key: pa.Array  # task_key: meta.task_id, else the task text
    correct: np.ndarray  # int8: -1 unknown, 0, 1
    starts: np.ndarray  # int64, n + 1
    text: pa.Array
    observation: pa.Array
    thought: pa.Array
    labels: dict[str, LabelCols] = field(default_factory=dict)
    cache: dict[str, pa.Array] = field(default_factory=dict)  # derived columns (escaped text...)

    @property
    def n(self) -> int:
        return len(self.ids)

    def escaped(self, name: str) -> pa.Array:
        """``escape`` of column ``name`` (text, observation, thought, task), computed once."""
        got = self.cache.get(name)
        if got is None:
            from stepsieve.curate._columnar_text import escape

            got = self.cache[name] = escape(getattr(self, name))
        return got

    def slice(self, r0: int, r1: int) -> Block:
        """Trajectories ``r0:r1`` (their steps re-based to start at 0)."""
        s0, s1 = int(self.starts[r0]), int(self.starts[r1])
        labs = {
            k: LabelCols(*(getattr(v, f.name)[s0:s1] for f in fields(LabelCols)))
            for k, v in self.labels.items()
        }
        return Block(
            self.ids.slice(r0, r1 - r0),
            self.task.slice(r0, r1 - r0),
            self.key.slice(r0, r1 - r0),
            self.correct[r0:r1],
            self.starts[r0 : r1 + 1] - s0,
            self.text.slice(s0, s1 - s0),
            self.observation.slice(s0, s1 - s0),
            self.thought.slice(s0, s1 - s0),
            labs,
        )

    @staticmethod
    def concat(a: Block, b: Block) -> Block:
        def cat(x: pa.Array, y: pa.Array) -> pa.Array:
            return pa.concat_arrays([x, y])

        labs = {
            k: LabelCols(
                *(
                    np.concatenate([getattr(a.labels[k], f.name), getattr(v, f.name)])
                    for f in fields(LabelCols)
                )
            )
            for k, v in b.labels.items()
        }
        return Block(
            cat(a.ids, b.ids),
            cat(a.task, b.task),
            cat(a.key, b.key),
            np.concatenate([a.correct, b.correct]),
            np.concatenate([a.starts, b.starts[1:] + a.starts[-1]]),
            cat(a.text, b.text),
            cat(a.observation, b.observation),
            cat(a.thought, b.thought),
            labs,
        )


def _np_bool(a: pa.Array | None, m: int) -> np.ndarray:
    if a is None:
        return np.zeros(m, dtype=bool)
    return np.asarray(a.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _label_cols(lab: pa.Array | None, m: int, counts: bool) -> LabelCols:
    z = np.zeros(m, dtype=np.int64)
    if lab is None or pa.types.is_null(lab.type):
        return LabelCols(
            np.zeros(m, bool),
            np.full(m, np.nan),
            np.zeros(m, bool),
            np.zeros(m, np.int8),
            z,
            z,
            z.astype(bool),
            z.astype(bool),
        )
    present = np.asarray(lab.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    sc = field_of(lab, "score")
    if sc is None or pa.types.is_null(sc.type):
        score, has_score = np.full(m, np.nan), np.zeros(m, bool)
    else:
        sc = sc.cast(pa.float64())
        has_score = np.asarray(sc.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        score = sc.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    vd = field_of(lab, "verdict")
    if vd is None or pa.types.is_null(vd.type):
        verdict = np.zeros(m, np.int8)
    else:
        code = pc.index_in(vd, value_set=pa.array(VERDICTS))
        if code.null_count != vd.null_count:
            raise ColumnarUnsupported("a verdict outside correct/incorrect/neutral")
        verdict = (code.fill_null(-1).to_numpy(zero_copy_only=False) + 1).astype(np.int8)
    n = k = z
    has_counts = shared = z.astype(bool)
    ex = field_of(lab, "extra")
    if counts and ex is not None and not pa.types.is_null(ex.type):
        if field_of(ex, "rollouts") is not None and field_of(ex, "rollouts").null_count < m:  # type: ignore[union-attr]
            raise ColumnarUnsupported("recorded rollouts (Step-DPO chosen steps from rollouts)")
        na, ka = field_of(ex, "n"), field_of(ex, "n_correct")
        for fname, ok in (
            ("n", pa.types.is_integer),
            ("n_correct", pa.types.is_integer),
            ("shared", pa.types.is_boolean),
        ):
            x = field_of(ex, fname)
            if x is not None and not (ok(x.type) or pa.types.is_null(x.type)):
                raise ColumnarUnsupported(f"label extra.{fname} of type {x.type}")
        if (
            na is not None
            and ka is not None
            and pa.types.is_integer(na.type)
            and pa.types.is_integer(ka.type)
        ):
            valid = np.asarray(pc.and_(na.is_valid(), ka.is_valid()).to_numpy(zero_copy_only=False), bool)
            n = na.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            k = ka.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            has_counts = valid & (k >= 0) & (k <= n)
            n = np.where(has_counts, n, 0)
            k = np.where(has_counts, k, 0)
        sh = field_of(ex, "shared")
        if sh is not None and pa.types.is_boolean(sh.type):
            shared = _np_bool(sh, m)
    return LabelCols(present, score, has_score & present, verdict, n, k, has_counts, shared)


def _sf(a: pa.Array, name: str, ty: pa.DataType | None = None) -> pa.Array:
    """Field ``name`` of a struct array (all null when the chunk never has it), cast to ``ty``."""
    if pa.types.is_struct(a.type) and a.type.get_field_index(name) >= 0:
        x = pc.struct_field(a, name)
        return x if ty is None or x.type == ty else x.cast(ty)
    return pa.nulls(len(a), ty or pa.null())


def _col(t: pa.Table, name: str, ty: pa.DataType | None = None) -> pa.Array:
    if name not in t.column_names:
        return pa.nulls(t.num_rows, ty or pa.null())
    x = t.column(name).combine_chunks()
    return x if ty is None or x.type == ty else x.cast(ty)


def _project(t: pa.Table, labels: dict[str, bool], chat: bool) -> Block:
    """Validate one parsed chunk and keep the columns the products read."""
    n = t.num_rows
    for name in ("id", "task", "steps"):
        if name not in t.column_names or t.column(name).null_count:
            raise ColumnarUnsupported(f"a record without {name}")
    sv = _col(t, "schema_version")
    if sv.null_count < n and pc.any(pc.not_equal(sv, 1)).as_py():
        raise ColumnarUnsupported("schema_version other than 1")
    tid = _sf(_col(t, "meta"), "task_id", pa.string())
    task = _col(t, "task", pa.string())
    key = pc.if_else(tid.is_valid(), tid, task)
    steps = _col(t, "steps")
    lens = pc.list_value_length(steps).to_numpy(zero_copy_only=False)
    if (lens == 0).any():
        raise ColumnarUnsupported("an empty step list")
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=starts[1:])
    flat = pc.list_flatten(steps)
    m = len(flat)
    if flat.null_count:
        raise ColumnarUnsupported("a null step")
    text = _sf(flat, "text", pa.string())
    if text.null_count:
        raise ColumnarUnsupported("a step without text")
    if _sf(flat, "index").null_count:
        raise ColumnarUnsupported("a step without index")
    kind = _sf(flat, "kind", pa.string())
    if kind.null_count or not pc.all(pc.is_in(kind, value_set=pa.array(["reasoning", "action"]))).as_py():
        raise ColumnarUnsupported("a step without kind, or a kind other than reasoning/action")
    if chat and _sf(_sf(flat, "meta"), "tool_call").null_count < m:
        raise ColumnarUnsupported("action steps with meta.tool_call (chat tool_calls)")
    labs = _sf(flat, "labels")
    for f in labs.type if pa.types.is_struct(labs.type) else ():
        lab = pc.struct_field(labs, f.name)
        vd = _sf(lab, "verdict", pa.string())
        code = pc.index_in(vd, value_set=pa.array(VERDICTS))
        if code.null_count != vd.null_count:
            raise ColumnarUnsupported(f"label {f.name!r}: a verdict outside correct/incorrect/neutral")
        check_cost_grader(f.name, lab)
    out = {k: _label_cols(field_of(labs, k), m, counts) for k, counts in labels.items()}
    oc = _sf(_col(t, "outcome"), "correct", pa.bool_())
    correct = np.where(
        np.asarray(oc.is_valid().to_numpy(zero_copy_only=False), bool),
        _np_bool(oc, n).astype(np.int8),
        np.int8(-1),
    ).astype(np.int8)
    return Block(
        _col(t, "id", pa.string()),
        task,
        key,
        correct,
        starts,
        text,
        _sf(flat, "observation", pa.string()),
        _sf(flat, "thought", pa.string()),
        out,
    )


def _chunks(path: str, size: int, st: dict[str, int] | None = None) -> Iterator[bytes]:
    """The file in pieces of about ``size`` bytes, each ending at a line end."""
    tail = b""
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(size)
            if st is not None:
                st["position"] = fh.tell()
            if not buf:
                break
            buf = tail + buf
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                tail = buf
                continue
            tail = buf[cut:]
            yield buf[:cut]
    if tail.strip():
        yield tail + b"\n"


def read_blocks(
    path: str,
    labels: dict[str, bool],
    *,
    chat: bool = False,
    contiguous: bool = True,
    chunk_bytes: int | None = None,
    stats: dict[str, int] | None = None,
) -> Iterator[Block]:
    """Blocks of whole tasks from canonical JSONL ``path``.

    ``labels`` maps each label the products read to whether its Monte Carlo counts are
    needed. Tasks must be contiguous in the file (what sampling writes); a task that
    reappears later is split (``stats["split_tasks"]``) when ``contiguous``, and raises
    ColumnarUnsupported otherwise (the record path's bounded buffer would merge it).
    ``stats["read"]`` counts records.
    """
    st = stats if stats is not None else {}
    st.setdefault("read", 0)
    st.setdefault("split_tasks", 0)
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    declared = dict(labels)  # every label name met so far is declared, so Arrow checks its types
    ropts = pj.ReadOptions(use_threads=False, block_size=max(chunk_bytes * 2, 1 << 20))
    carry: Block | None = None
    closed: set[int] = set()
    first = True
    infer = True  # Arrow's own inference parses fastest; free-form meta of mixed types defeats it
    for chunk in _chunks(path, chunk_bytes, st):
        t = None
        if infer:
            try:
                t = pj.read_json(pa.BufferReader(chunk), read_options=ropts)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                infer = False  # and for the rest of the file: such content tends to recur
        if t is not None:
            check_inferred(t)  # every label is in the inferred schema: all get checked
        else:
            t = _declared(chunk, declared, ropts)
        if t.num_rows == 0:
            continue
        check_nulls(chunk, t, first)
        first = False
        b = _project(t, labels, chat)
        if pc.count_distinct(b.ids).as_py() != b.n:
            raise ColumnarUnsupported("repeated trajectory ids in one chunk")
        st["read"] += b.n
        if carry is not None:
            b = Block.concat(carry, b)
        # the last task may continue in the next chunk: hold it back
        keys = b.key
        last = keys[b.n - 1]
        tail_start = b.n - 1
        eq = pc.equal(keys, last).to_numpy(zero_copy_only=False)
        while tail_start > 0 and eq[tail_start - 1]:
            tail_start -= 1
        if tail_start > 0:
            _check_runs(b.key.slice(0, tail_start), closed, contiguous, st)
            yield b.slice(0, tail_start)
        carry = b.slice(tail_start, b.n)
    if carry is not None and carry.n:
        _check_runs(carry.key, closed, contiguous, st)
        yield carry


def _declared(chunk: bytes, declared: dict[str, bool], ropts: pj.ReadOptions) -> pa.Table:
    """Parse with the declared schema, unknown fields skipped (content inference cannot type).

    Labels the products do not read must still be valid: Arrow checks only declared names,
    so every label object in the chunk must be one of them. ``Label.to_dict`` writes
    ``"verdict"`` in each, and that byte sequence cannot occur inside a JSON string.
    """
    t = _parse(chunk, declared, ropts)
    n_verdict = chunk.count(b'"verdict"')
    if n_verdict != _n_labels(t):
        new = discover_labels(chunk) - declared.keys()
        if new:
            declared.update(dict.fromkeys(sorted(new), False))
            t = _parse(chunk, declared, ropts)
        if n_verdict != _n_labels(t):
            raise ColumnarUnsupported("label objects the engine cannot account for (no verdict key?)")
    return t


def _parse(chunk: bytes, declared: dict[str, bool], ropts: pj.ReadOptions) -> pa.Table:
    popts = pj.ParseOptions(explicit_schema=declared_schema(declared), unexpected_field_behavior="ignore")
    try:
        return pj.read_json(pa.BufferReader(chunk), read_options=ropts, parse_options=popts)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise ColumnarUnsupported(f"Arrow cannot read it as canonical records ({e})") from None


def _n_labels(t: pa.Table) -> int:
    """Label objects present (non-null) over every declared name."""
    if t.num_rows == 0:
        return 0
    labs = pc.struct_field(pc.list_flatten(t.column("steps").combine_chunks()), "labels")
    return sum(len(labs) - pc.struct_field(labs, f.name).null_count for f in labs.type)


def run_starts(keys: pa.Array) -> np.ndarray:
    """Row indices where a new run of equal task keys begins (with ``len(keys)`` appended)."""
    n = len(keys)
    if n == 0:
        return np.zeros(1, dtype=np.int64)
    diff = pc.not_equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return np.concatenate([[0], np.flatnonzero(diff) + 1, [n]]).astype(np.int64)


def _check_runs(keys: pa.Array, closed: set[int], contiguous: bool, st: dict[str, int]) -> None:
    """Count (or refuse) tasks seen again after their run ended; hashes only, as group_by_task keeps."""
    rs = run_starts(keys)
    heads = keys.take(pa.array(rs[:-1])).to_pylist()
    for k in heads:
        h = hash(k)
        if h in closed:
            if not contiguous:
                raise ColumnarUnsupported(f"task {k!r} is not contiguous in the input")
            st["split_tasks"] += 1
        closed.add(h)
