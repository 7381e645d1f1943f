"""Validation of the columnar engine's input: only what the record path would accept the same way.

The record path (``Trajectory.from_dict``) is the reference. A parsed chunk passes only when
every check here proves the record path would accept each of its records and read it the
same way; otherwise ``ColumnarUnsupported`` says why, and the job runs the record path
(which accepts the record, or names file and line of the bad one).

- Parsed by inference: every field's inferred type must be one the record path reads the
  same way (``check_inferred``); all labels are in the schema, so all get checked.
- Parsed with ``declared_schema``: Arrow converts only declared fields, so every label name
  met is declared, and a count of ``"verdict"`` keys (``Label.to_dict`` writes one per label;
  the byte sequence cannot occur inside a JSON string) proves no label went unchecked.
- Either way, explicit nulls the record path rejects but Arrow reads as absent
  (``"truth": null``, ``"schema_version": null``) are searched for where a column has nulls
  (``check_nulls``), and label verdicts, costs and grader names are checked by value.

Two gaps remain, both in content no product reads and no stepsieve writer produces: a
``NaN``/``Infinity`` literal inside ``meta`` or ``extra`` (not JSON; orjson refuses it), and a
label given as ``null`` under a name the job does not read (declared-schema parse only).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["VERDICTS", "ColumnarUnsupported", "check_inferred", "check_nulls", "declared_schema"]

VERDICTS = ["correct", "incorrect", "neutral"]  # codes 1, 2, 3; 0 = no verdict


class ColumnarUnsupported(Exception):
    """The input (or an option) is outside what the columnar engine reproduces exactly."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def field_of(arr: pa.Array, name: str) -> pa.Array | None:
    t = arr.type
    if not pa.types.is_struct(t) or t.get_field_index(name) < 0:
        return None
    return pc.struct_field(arr, name)


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


def declared_schema(labels: dict[str, bool]) -> pa.Schema:
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


def discover_labels(chunk: bytes) -> set[str]:
    """Names of the label objects in a chunk of canonical JSONL (a superset is harmless)."""
    import orjson

    return {orjson.loads(b'"' + m + b'"') for m in set(_LABEL_KEY.findall(chunk))}


def check_cost_grader(name: str, lab: pa.Array) -> None:
    """``Cost.from_dict`` / ``GraderRef.from_dict`` accept these values exactly when this passes.

    Cost fields must be numbers where present (a missing field defaults to 0, a null one is
    an error, and Arrow cannot tell the two apart, so a null refuses the chunk); a grader
    needs a string name.
    """
    for part, fields_ in (("cost", ("calls", "tokens_in", "tokens_out", "seconds")), ("grader", ("name",))):
        obj = field_of(lab, part)
        if obj is None or pa.types.is_null(obj.type):
            continue
        valid = obj.is_valid()
        for fname in fields_:
            sub = field_of(obj, fname)
            if sub is None:
                if part == "grader":
                    raise ColumnarUnsupported(f"label {name!r} grader without a name")
                continue
            want = pa.types.is_string if part == "grader" else (lambda x: any(p(x) for p in _NUMERIC))
            if not want(sub.type):
                raise ColumnarUnsupported(f"label {name!r} {part}.{fname} has type {sub.type}")
            if pc.any(pc.and_(valid, sub.is_null())).as_py():
                raise ColumnarUnsupported(f"label {name!r} {part}.{fname} is null or missing")


def check_nulls(chunk: bytes, t: pa.Table, first: bool) -> None:
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


def check_inferred(t: pa.Table) -> None:
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
