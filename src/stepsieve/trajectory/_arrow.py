"""The record's Arrow form, derived from its one definition (``_record.py``).

``arrow_schema(Trajectory)`` walks the msgspec type information of the record and maps
each field: numbers, booleans, strings and literals to typed columns; a nested Struct to an
Arrow struct; a list of Structs to a list of structs; a ``dict[str, Struct]`` (the labels)
to a list of structs with the key in a ``name`` column (``datasets`` has no map type); any
open-ended value (``dict[str, Any]``, ``Any``) to its JSON text. A text-or-JSON union
(``Trajectory.task``) keeps text in its own column and anything else as JSON in the column
its ``json_column`` metadata names. Nothing here names a record field: a field added to the
record appears in Parquet with no change to this file.

Conversion is columnar: a batch of records becomes one RecordBatch built from per-column
Python lists, and a read batch becomes record dicts from per-column lists (pyarrow's nested
``to_pylist`` and ``from_pylist`` are several times slower), which ``msgspec.convert``
validates into records. A column the file lacks (a file of an older schema) leaves its
field at the default.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from stepsieve._errors import SchemaError
from stepsieve.trajectory._record import SCHEMA_VERSION, Trajectory

__all__ = ["TRAJECTORY_SCHEMA", "arrow_schema", "batch_rows", "records_to_batch"]

_dumps = orjson.dumps
_loads = orjson.loads
_SCALARS: dict[type, pa.DataType] = {
    msgspec.inspect.IntType: pa.int64(),
    msgspec.inspect.FloatType: pa.float64(),
    msgspec.inspect.StrType: pa.string(),
    msgspec.inspect.BoolType: pa.bool_(),
    msgspec.inspect.LiteralType: pa.string(),
}


@dataclass(frozen=True)
class _Col:
    """How one field maps to Arrow: ``kind`` is scalar | text_or_json | json | struct | list
    | keyed (a ``dict[str, Struct]``)."""

    name: str
    kind: str
    arrow: pa.DataType
    optional: bool = True  # None is a valid value
    fields: tuple[_Col, ...] = ()  # struct, list (of struct) and keyed: the struct's fields
    json_column: str | None = None  # a text-or-JSON union: where the non-text values go
    cls: Any = None  # struct, list and keyed: the Struct type of the values or items
    choices: frozenset[Any] | None = None  # a Literal's values
    container: type | None = None  # json: dict or list, when the type says which
    default: Any = msgspec.NODEFAULT  # what a null of a non-optional field becomes
    factory: Any = msgspec.NODEFAULT


def _col(name: str, t: Any, optional: bool) -> _Col:
    """The mapping of a field of type ``t`` (defaults are filled in by ``_fields``)."""
    extra = None
    if isinstance(t, msgspec.inspect.Metadata):
        extra, t = t.extra or {}, t.type
    if isinstance(t, msgspec.inspect.UnionType):
        rest = [u for u in t.types if not isinstance(u, msgspec.inspect.NoneType)]
        optional = optional or len(rest) < len(t.types)
        if len(rest) == 1:
            return _col(name, rest[0], optional)
        if extra and extra.get("json_column") and any(isinstance(u, msgspec.inspect.StrType) for u in rest):
            return _Col(name, "text_or_json", pa.string(), optional, json_column=extra["json_column"])
        return _Col(name, "json", pa.string(), optional)
    if type(t) in _SCALARS:
        choices = frozenset(t.values) if isinstance(t, msgspec.inspect.LiteralType) else None
        return _Col(name, "scalar", _SCALARS[type(t)], optional, choices=choices)
    if isinstance(t, msgspec.inspect.StructType):
        fields = _fields(t)
        return _Col(name, "struct", pa.struct([(f.name, f.arrow) for f in fields]), optional, fields, cls=t.cls)
    if isinstance(t, msgspec.inspect.ListType) and type(t.item_type) in _SCALARS:  # e.g. list[str]
        return _Col(name, "scalar", pa.list_(_SCALARS[type(t.item_type)]), optional)
    if isinstance(t, msgspec.inspect.ListType) and isinstance(t.item_type, msgspec.inspect.StructType):
        fields = _fields(t.item_type)
        return _Col(name, "list", pa.list_(pa.struct([(f.name, f.arrow) for f in fields])), optional, fields,
                    cls=t.item_type.cls)
    if (
        isinstance(t, msgspec.inspect.DictType)
        and isinstance(t.key_type, msgspec.inspect.StrType)
        and isinstance(t.value_type, msgspec.inspect.StructType)
    ):
        fields = (_Col("name", "scalar", pa.string(), False), *_fields(t.value_type))
        return _Col(name, "keyed", pa.list_(pa.struct([(f.name, f.arrow) for f in fields])), optional, fields,
                    cls=t.value_type.cls)
    containers: dict[type, type] = {msgspec.inspect.DictType: dict, msgspec.inspect.ListType: list}
    container = containers.get(type(t))
    return _Col(name, "json", pa.string(), optional, container=container)  # open-ended: JSON text


def _fields(st: msgspec.inspect.StructType) -> tuple[_Col, ...]:
    return tuple(
        replace(_col(f.name, f.type, optional=False), default=f.default, factory=f.default_factory)
        for f in st.fields
    )


def _top(record: type) -> tuple[_Col, ...]:
    return _fields(msgspec.inspect.type_info(record))  # type: ignore[arg-type]


def arrow_schema(record: type) -> pa.Schema:
    """The Parquet schema of a record type (one column per field; see the module doc)."""
    cols: list[tuple[str, pa.DataType]] = []
    for c in _top(record):
        cols.append((c.name, c.arrow))
        if c.json_column:
            cols.append((c.json_column, pa.string()))
    return pa.schema(cols, metadata={b"stepsieve.schema": f"trajectory/{SCHEMA_VERSION}".encode()})


_COLUMNS = _top(Trajectory)
TRAJECTORY_SCHEMA = arrow_schema(Trajectory)


# ---- records -> Arrow ------------------------------------------------------------------


def _array(c: _Col, values: list[Any]) -> pa.Array:
    """The Arrow array of one field's values (records' attributes, already gathered)."""
    if c.kind == "scalar":
        return pa.array(values, c.arrow)
    if c.kind == "json":
        return pa.array([_dumps(v).decode() if v else None for v in values], pa.string())
    if c.kind == "struct":
        mask = [v is None for v in values]
        children = [_array(f, [None if v is None else getattr(v, f.name) for v in values]) for f in c.fields]
        return pa.StructArray.from_arrays(
            children, fields=list(c.arrow), mask=pa.array(mask, pa.bool_()) if any(mask) else None
        )
    offsets = [0]
    flat: list[Any] = []
    names: list[str] = []
    for v in values:
        if v is None:
            pass
        elif c.kind == "keyed":
            names.extend(v)
            flat.extend(v.values())
        else:
            flat.extend(v)
        offsets.append(len(flat))
    fields = c.fields[1:] if c.kind == "keyed" else c.fields
    children = [_array(f, [getattr(x, f.name) for x in flat]) for f in fields]
    if c.kind == "keyed":
        children.insert(0, pa.array(names, pa.string()))
    items = pa.StructArray.from_arrays(children, fields=list(c.arrow.value_type))
    mask = [v is None for v in values]
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), items, mask=pa.array(mask, pa.bool_()) if any(mask) else None
    )


def records_to_batch(records: list[Trajectory]) -> pa.RecordBatch:
    """Trajectories as one RecordBatch of ``TRAJECTORY_SCHEMA``, built column by column."""
    arrays = []
    for c in _COLUMNS:
        values = [getattr(r, c.name) for r in records]
        if c.json_column:
            arrays.append(pa.array([v if isinstance(v, str) else None for v in values], pa.string()))
            arrays.append(pa.array([None if isinstance(v, str) else _dumps(v).decode() for v in values]))
        else:
            arrays.append(_array(c, values))
    return pa.RecordBatch.from_arrays(arrays, schema=TRAJECTORY_SCHEMA)


# ---- Arrow -> records ------------------------------------------------------------------
#
# Arrow's column types already guarantee most of what validation checks, so a batch is built
# into records directly (C constructors over per-column lists); what Arrow cannot guarantee —
# a Literal's values, a JSON text's container type, a null in a required field, an empty step
# list, the schema version — is checked per column. A batch that fails any check is read
# again as record dicts, which ``Trajectory.from_dict`` validates row by row, so a bad row is
# reported with its number and the field's path.


class _Untrusted(Exception):
    """A column holds something the record's types do not allow: validate row by row."""


def _objects(c: _Col, arr: Any) -> list[Any]:
    """The values of one column as record values (Structs for structs), or ``_Untrusted``."""
    kind = c.kind
    if kind in ("scalar", "text_or_json"):
        vals: list[Any] = arr.to_pylist()
        if c.choices is not None:
            if not c.choices.issuperset(v for v in vals if v is not None):
                raise _Untrusted(c.name)
            # the Literal's own string objects, as msgspec's decoder gives: a field left out of
            # the JSON when it holds its default (omit_defaults) is compared by identity
            canon = {v: v for v in c.choices}
            vals = [None if v is None else canon[v] for v in vals]
    elif kind == "json":
        vals = [None if x is None else _loads(x) for x in arr.to_pylist()]
        if c.container is not None and any(v is not None and type(v) is not c.container for v in vals):
            raise _Untrusted(c.name)
    elif kind == "struct":
        if arr.null_count:  # build the valid rows only (a null struct's fields are nulls)
            valid = arr.is_valid()
            built = iter(_build(c.cls, c.fields, arr.filter(valid), len(arr) - arr.null_count))
            vals = [next(built) if ok else None for ok in valid.to_pylist()]
        else:
            vals = _build(c.cls, c.fields, arr, len(arr))
    else:  # list | keyed
        offs = arr.offsets.to_pylist()
        flat = arr.flatten()
        fields = c.fields[1:] if kind == "keyed" else c.fields
        items = _build(c.cls, fields, flat, len(flat))
        base = offs[0]
        bounds = [o - base for o in offs]
        if kind == "keyed":
            names = flat.field("name").to_pylist()
            vals = [dict(zip(names[a:b], items[a:b], strict=True)) for a, b in pairwise(bounds)]
        else:
            vals = [items[a:b] for a, b in pairwise(bounds)]
        if arr.null_count:
            vals = [v if ok else None for v, ok in zip(vals, arr.is_valid().to_pylist(), strict=True)]
    if None in vals and not c.optional:
        if c.factory is not msgspec.NODEFAULT:
            return [c.factory() if v is None else v for v in vals]
        if c.default is msgspec.NODEFAULT:
            raise _Untrusted(c.name)  # a null in a required field
        return [c.default if v is None else v for v in vals]
    return vals


def _column(arr: Any, name: str) -> Any:
    return arr.column(name) if isinstance(arr, pa.RecordBatch) else arr.field(name)


def _build(cls: Any, fields: tuple[_Col, ...], arr: Any, n: int) -> list[Any]:
    """``n`` instances of ``cls`` from a struct array (or record batch) of its fields; a field
    the file lacks (an older schema) takes its default."""
    typ = arr.schema if isinstance(arr, pa.RecordBatch) else arr.type
    have = {typ.field(i).name for i in range(len(typ) if isinstance(arr, pa.RecordBatch) else typ.num_fields)}
    cols: list[tuple[str, list[Any]]] = []
    for f in fields:
        if f.name not in have:
            continue
        if f.kind == "text_or_json":
            alt = _column(arr, f.json_column) if f.json_column is not None and f.json_column in have else None
            cols.append((f.name, _text_or_json(f, _column(arr, f.name), alt)))
        else:
            cols.append((f.name, _objects(f, _column(arr, f.name))))
    try:
        if len(cols) == len(fields):  # every field present: positional, the fastest constructor call
            return [cls(*row) for row in zip(*(v for _, v in cols), strict=True)] if cols else [cls() for _ in range(n)]
        names = [k for k, _ in cols]
        return [cls(**dict(zip(names, row, strict=True))) for row in zip(*(v for _, v in cols), strict=True)]
    except (TypeError, ValueError) as e:  # e.g. an unreadable schema_version
        raise _Untrusted(str(e)) from None


def _text_or_json(c: _Col, text_arr: Any, json_arr: Any) -> list[Any]:
    vals = text_arr.to_pylist()
    if json_arr is not None:
        alt = json_arr.to_pylist()
        vals = [v if v is not None or a is None else _loads(a) for v, a in zip(vals, alt, strict=True)]
        if any(v is not None and not isinstance(v, (str, list)) for v in vals):
            raise _Untrusted(c.name)
    if not c.optional and None in vals:
        raise _Untrusted(c.name)
    return vals


def _trajectories(batch: pa.RecordBatch) -> list[Trajectory]:
    out: list[Trajectory] = _build(Trajectory, _COLUMNS, batch, batch.num_rows)
    if not all(t.steps for t in out):  # a record needs a step: from_dict says which row has none
        raise _Untrusted("steps")
    return out


def batch_rows(batch: pa.RecordBatch) -> list[Any]:
    """The records of one batch: Trajectories built straight from the columns, or — when a
    column holds what the record's types do not allow — each row's dict form, for
    ``Trajectory.from_dict`` to validate and word. A batch without the record's required
    columns raises SchemaError."""
    names = set(batch.schema.names)
    missing = [c.name for c in _COLUMNS if c.name not in names and not _has_default(c.name)]
    if missing:
        raise SchemaError(
            f"not a stepsieve Parquet file: no column '{missing[0]}' (a foreign layout needs --from FORMAT)"
        )
    try:
        return _trajectories(batch)
    except _Untrusted:
        return list(_rows(batch, names))


# ---- Arrow -> record dicts (the fallback: validated and worded by Trajectory.from_dict) --


def _values(c: _Col, arr: Any) -> list[Any]:
    """Python values of one column (dicts for structs, lists for lists), in row order."""
    if c.kind in ("scalar", "text_or_json"):
        return arr.to_pylist()
    if c.kind == "json":
        return [None if x is None else _loads(x) for x in arr.to_pylist()]
    if c.kind == "struct":
        return _struct_rows(c.fields, arr, arr.is_valid().to_pylist())
    offs = arr.offsets.to_pylist()
    base = offs[0]
    valid = arr.is_valid().to_pylist()
    items = _struct_rows(c.fields, arr.flatten(), None)
    out: list[Any] = []
    for r in range(len(arr)):
        chunk = items[offs[r] - base : offs[r + 1] - base]
        out.append(None if not valid[r] else {d.pop("name"): d for d in chunk} if c.kind == "keyed" else chunk)
    return out


def _struct_rows(fields: tuple[_Col, ...], arr: Any, valid: list[bool] | None) -> list[Any]:
    """The dict of each row of a struct array; a null is left out, so the field's default
    applies (or from_dict says the field is missing)."""
    have = {arr.type.field(i).name for i in range(arr.type.num_fields)}
    cols = [(f.name, _values(f, arr.field(f.name))) for f in fields if f.name in have]
    rows: list[Any] = []
    for r in range(len(arr)):
        if valid is not None and not valid[r]:
            rows.append(None)
            continue
        rows.append({name: vals[r] for name, vals in cols if vals[r] is not None})
    return rows


def _rows(batch: pa.RecordBatch, names: set[str]) -> Iterator[dict[str, Any]]:
    cols = []
    for c in _COLUMNS:
        if c.name in names:
            alt = batch.column(c.json_column).to_pylist() if c.json_column and c.json_column in names else None
            cols.append((c.name, _values(c, batch.column(c.name)), alt))
    for r in range(batch.num_rows):
        d: dict[str, Any] = {}
        for name, vals, alt in cols:
            v = vals[r]
            if v is None and alt is not None and alt[r] is not None:
                v = _loads(alt[r])
            if v is not None:
                d[name] = v
        yield d


_DEFAULTS = {f.name for f in msgspec.structs.fields(Trajectory) if f.required is False}


def _has_default(name: str) -> bool:
    return name in _DEFAULTS
