"""Reading canonical JSONL into columns: task-aligned blocks of Arrow/numpy arrays, no record per step.

The columnar engine (see ``_columnar_jobs``) never builds a ``Trajectory``: the file is cut
into chunks at line ends, each chunk is parsed by Arrow's C++ JSON reader into columns, and
only the columns the products need are kept (step texts, the grading label's verdict and
score, the value label's Monte Carlo counts...). A chunk's last task may continue in the
next chunk, so its rows are carried over: every ``Block`` yielded holds whole tasks.

Validation is *conservative*: the record path (``Trajectory.from_dict``) is the reference.
Every field the record path checks is declared with its type, so Arrow refuses a wrong
one; every label name met is declared (a byte count of ``"verdict"`` keys proves no label
object went unchecked); explicit nulls the record path rejects (``"truth": null``,
``"schema_version": null``) are searched for where Arrow shows a null. Anything doubtful —
a task given as messages, a label without a verdict key, a cost with a missing field,
recorded rollouts — raises ``ColumnarUnsupported`` with the reason, and the caller runs the
record path instead, which accepts the record or names file and line of the bad one.
Two gaps remain, both in content no product reads and no stepsieve writer produces: a
``NaN``/``Infinity`` literal inside ``meta`` or ``extra`` (not JSON; orjson refuses it), and
a label given as ``null`` under a name the job does not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

__all__ = ["Block", "ColumnarUnsupported", "LabelCols", "read_blocks"]

CHUNK_BYTES = 8 << 20  # memory is bounded by this (and the products' rows), not the file

VERDICTS = ["correct", "incorrect", "neutral"]  # codes 1, 2, 3; 0 = no verdict
V_NONE, V_CORRECT, V_INCORRECT, V_NEUTRAL = 0, 1, 2, 3


class ColumnarUnsupported(Exception):
    """The input (or an option) is outside what the columnar engine reproduces exactly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def _label_type(counts: bool) -> pa.DataType:
    """A label's declared fields; ``counts``: also the Monte Carlo counts and rollouts in extra."""
    num = pa.float64()
    cost = pa.struct([("calls", num), ("tokens_in", num), ("tokens_out", num), ("seconds", num)])
    extra = pa.struct([])
    if counts:
        rollout = pa.struct([("text", pa.string()), ("correct", pa.bool_())])
        extra = pa.struct(
            [
                ("n", pa.int64()),
                ("n_correct", pa.int64()),
                ("shared", pa.bool_()),
                ("rollouts", pa.list_(rollout)),
            ]
        )
    return pa.struct(
        [
            ("score", num),
            ("verdict", pa.string()),
            ("rationale", pa.string()),
            ("cost", cost),
            ("grader", pa.struct([("name", pa.string())])),
            ("extra", extra),
        ]
    )


def _schema(labels: dict[str, bool]) -> pa.Schema:
    """The declared types of every canonical field (Arrow refuses to convert anything else).

    Free-form objects (``meta``, a step's ``meta``, a label's ``extra``) are declared as
    objects with only the keys the engine reads; the rest of their content is skipped, as
    the record path leaves it unchecked too.
    """
    s = pa.string()
    step = pa.struct(
        [
            ("index", pa.int64()),
            ("text", s),
            ("kind", s),
            ("observation", s),
            ("thought", s),
            ("labels", pa.struct([(k, _label_type(x)) for k, x in labels.items()])),
            ("meta", pa.struct([("tool_call", pa.struct([]))])),
        ]
    )
    return pa.schema(
        [
            ("schema_version", pa.int64()),
            ("id", s),
            ("task", s),
            ("steps", pa.list_(step)),
            ("outcome", pa.struct([("answer", s), ("correct", pa.bool_()), ("reward", pa.float64())])),
            ("reference", s),
            ("meta", pa.struct([("task_id", s)])),
        ]
    )


_NUMERIC = (pa.types.is_floating, pa.types.is_integer)
# A label object as Label.to_dict writes it: a key, then an object opening with score/verdict.
_LABEL_KEY = re.compile(rb'"((?:[^"\\]|\\.)*)"\s*:\s*\{\s*"(?:score|verdict)"')


def _discover_labels(chunk: bytes) -> set[str]:
    """Names of the label objects in a chunk of canonical JSONL (a superset is harmless)."""
    import orjson

    return {orjson.loads(b'"' + m + b'"') for m in set(_LABEL_KEY.findall(chunk))}


def _check_cost_grader(name: str, lab: pa.Array) -> None:
    """``Cost.from_dict`` / ``GraderRef.from_dict`` accept these values exactly when this passes.

    Cost fields must be numbers where present (a missing field defaults to 0, a null one is
    an error, and Arrow cannot tell the two apart, so a null refuses the chunk); a grader
    needs a string name.
    """
    for part, fields_ in (("cost", ("calls", "tokens_in", "tokens_out", "seconds")), ("grader", ("name",))):
        obj = _field(lab, part)
        if obj is None or pa.types.is_null(obj.type):
            continue
        valid = obj.is_valid()
        for fname in fields_:
            sub = _field(obj, fname)
            if sub is None:
                if part == "grader":
                    raise ColumnarUnsupported(f"label {name!r} grader without a name")
                continue
            want = pa.types.is_string if part == "grader" else (lambda x: any(p(x) for p in _NUMERIC))
            if not want(sub.type):
                raise ColumnarUnsupported(f"label {name!r} {part}.{fname} has type {sub.type}")
            if pc.any(pc.and_(valid, sub.is_null())).as_py():
                raise ColumnarUnsupported(f"label {name!r} {part}.{fname} is null or missing")


def _check_nulls(chunk: bytes, t: pa.Table, first: bool) -> None:
    """Explicit nulls the record path rejects but Arrow reads as "absent", and NaN/Infinity.

    ``"schema_version": null`` and a label given as ``"truth": null`` are errors in the
    record path, while the key left out is fine; Arrow reads both as null. Only where a
    column actually has such nulls is the chunk's text searched for the explicit form, so
    files where every step carries its labels pay nothing.
    """
    if first and chunk.startswith(b"\xef\xbb\xbf"):
        raise ColumnarUnsupported("byte-order mark")
    names: list[str] = []
    if t.column("schema_version").null_count:
        names.append("schema_version")
    steps = t.column("steps").combine_chunks()
    flat = pc.list_flatten(steps)
    labs = pc.struct_field(flat, "labels")
    for f in labs.type:
        lab = pc.struct_field(labs, f.name)
        if lab.null_count > labs.null_count:
            names.append(f.name)
    for n in names:
        if re.search(rb'"' + re.escape(n.encode()) + rb'"\s*:\s*null', chunk):
            raise ColumnarUnsupported(f"explicit null for {n!r} (the record path rejects it)")
    for arr in _float_leaves(t):
        if pc.any(pc.is_nan(arr)).as_py() or pc.any(pc.is_inf(arr)).as_py():
            raise ColumnarUnsupported("NaN or Infinity (not JSON; the record path rejects it)")


def _float_leaves(t: pa.Table) -> list[pa.Array]:
    """Every floating-point column, nested ones included (flattened)."""
    out: list[pa.Array] = []

    def walk(a: pa.Array) -> None:
        ty = a.type
        if pa.types.is_floating(ty):
            out.append(a)
        elif pa.types.is_struct(ty):
            for f in ty:
                walk(pc.struct_field(a, f.name))
        elif pa.types.is_list(ty) or pa.types.is_large_list(ty):
            walk(pc.list_flatten(a))

    for col in t.columns:
        walk(col.combine_chunks())
    return out


def _field(arr: pa.Array, name: str) -> pa.Array | None:
    t = arr.type
    if not pa.types.is_struct(t) or t.get_field_index(name) < 0:
        return None
    return pc.struct_field(arr, name)


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
    sc = _field(lab, "score")
    if sc is None or pa.types.is_null(sc.type):
        score, has_score = np.full(m, np.nan), np.zeros(m, bool)
    else:
        sc = sc.cast(pa.float64())
        has_score = np.asarray(sc.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        score = sc.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64)
    vd = _field(lab, "verdict")
    if vd is None or pa.types.is_null(vd.type):
        verdict = np.zeros(m, np.int8)
    else:
        code = pc.index_in(vd, value_set=pa.array(VERDICTS))
        if code.null_count != vd.null_count:
            raise ColumnarUnsupported("a verdict outside correct/incorrect/neutral")
        verdict = (code.fill_null(-1).to_numpy(zero_copy_only=False) + 1).astype(np.int8)
    n = k = z
    has_counts = shared = z.astype(bool)
    ex = _field(lab, "extra")
    if counts and ex is not None and not pa.types.is_null(ex.type):
        if _field(ex, "rollouts") is not None and _field(ex, "rollouts").null_count < m:  # type: ignore[union-attr]
            raise ColumnarUnsupported("recorded rollouts (Step-DPO chosen steps from rollouts)")
        na, ka = _field(ex, "n"), _field(ex, "n_correct")
        for fname, ok in (
            ("n", pa.types.is_integer),
            ("n_correct", pa.types.is_integer),
            ("shared", pa.types.is_boolean),
        ):
            x = _field(ex, fname)
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
        sh = _field(ex, "shared")
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


def _is(kind: str) -> Any:
    test = {
        "str": pa.types.is_string,
        "int": pa.types.is_integer,
        "num": lambda x: pa.types.is_integer(x) or pa.types.is_floating(x),
        "bool": pa.types.is_boolean,
        "obj": pa.types.is_struct,
        "list": pa.types.is_list,
    }[kind]
    return lambda x: pa.types.is_null(x) or test(x)


_TOP = {"schema_version": "int", "id": "str", "task": "str", "steps": "list", "outcome": "obj",
        "reference": "str", "meta": "obj"}  # fmt: skip
_STEP = {"index": "int", "text": "str", "kind": "str", "observation": "str", "thought": "str",
         "labels": "obj", "meta": "obj"}  # fmt: skip
_OUTCOME = {"answer": "str", "correct": "bool", "reward": "num"}
_LABEL = {
    "score": "num",
    "verdict": "str",
    "rationale": "str",
    "cost": "obj",
    "grader": "obj",
    "extra": "obj",
}


def _check_types(where: str, ty: pa.DataType, want: dict[str, str]) -> None:
    for f in ty:
        kind = want.get(f.name)
        if kind is not None and not _is(kind)(f.type):
            raise ColumnarUnsupported(f"{where}{f.name} has type {f.type}")


def _check_inferred(t: pa.Table) -> None:
    """Types Arrow inferred (no declared schema) that the record path reads the same way."""
    _check_types("", t.schema, _TOP)
    if "steps" in t.column_names and pa.types.is_list(t.schema.field("steps").type):
        st = t.schema.field("steps").type.value_type
        if not pa.types.is_struct(st):
            raise ColumnarUnsupported("steps are not objects")
        _check_types("step.", st, _STEP)
        if st.get_field_index("labels") >= 0 and pa.types.is_struct(st.field("labels").type):
            for f in st.field("labels").type:
                if not pa.types.is_struct(f.type):
                    raise ColumnarUnsupported(f"label {f.name!r} is null or not an object")
                _check_types(f"label {f.name}.", f.type, _LABEL)
    if "outcome" in t.column_names and pa.types.is_struct(t.schema.field("outcome").type):
        _check_types("outcome.", t.schema.field("outcome").type, _OUTCOME)
    if "meta" in t.column_names and pa.types.is_struct(t.schema.field("meta").type):
        mt = t.schema.field("meta").type
        tid = mt.field("task_id").type if mt.get_field_index("task_id") >= 0 else pa.null()
        if not (_is("str")(tid) or pa.types.is_integer(tid)):
            raise ColumnarUnsupported("meta.task_id is neither a string nor an integer")


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
        _check_cost_grader(f.name, lab)
    out = {k: _label_cols(_field(labs, k), m, counts) for k, counts in labels.items()}
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
            _check_inferred(t)  # every label is in the inferred schema: all get checked
        else:
            t = _declared(chunk, declared, ropts)
        if t.num_rows == 0:
            continue
        _check_nulls(chunk, t, first)
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
        new = _discover_labels(chunk) - declared.keys()
        if new:
            declared.update(dict.fromkeys(sorted(new), False))
            t = _parse(chunk, declared, ropts)
        if n_verdict != _n_labels(t):
            raise ColumnarUnsupported("label objects the engine cannot account for (no verdict key?)")
    return t


def _parse(chunk: bytes, declared: dict[str, bool], ropts: pj.ReadOptions) -> pa.Table:
    popts = pj.ParseOptions(explicit_schema=_schema(declared), unexpected_field_behavior="ignore")
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
