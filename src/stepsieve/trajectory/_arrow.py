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
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from stepsieve._errors import SchemaError
from stepsieve.trajectory._record import SCHEMA_VERSION, Trajectory

__all__ = ["TRAJECTORY_SCHEMA", "arrow_schema", "batch_to_dicts", "records_to_batch"]

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
    """How one field maps to Arrow: ``kind`` is scalar | json | struct | list | keyed."""

    name: str
    kind: str
    arrow: pa.DataType
    optional: bool = True
    fields: tuple[_Col, ...] = ()  # struct, list (of struct) and keyed: the struct's fields
    json_column: str | None = None  # a text-or-JSON union: where the non-text values go


def _col(name: str, t: Any, optional: bool) -> _Col:
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
        return _Col(name, "scalar", _SCALARS[type(t)], optional)
    if isinstance(t, msgspec.inspect.StructType):
        fields = _fields(t)
        return _Col(name, "struct", pa.struct([(f.name, f.arrow) for f in fields]), optional, fields)
    if isinstance(t, msgspec.inspect.ListType) and isinstance(t.item_type, msgspec.inspect.StructType):
        fields = _fields(t.item_type)
        return _Col(name, "list", pa.list_(pa.struct([(f.name, f.arrow) for f in fields])), optional, fields)
    if (
        isinstance(t, msgspec.inspect.DictType)
        and isinstance(t.key_type, msgspec.inspect.StrType)
        and isinstance(t.value_type, msgspec.inspect.StructType)
    ):
        fields = (_Col("name", "scalar", pa.string(), False), *_fields(t.value_type))
        return _Col(name, "keyed", pa.list_(pa.struct([(f.name, f.arrow) for f in fields])), optional, fields)
    return _Col(name, "json", pa.string(), optional)  # open-ended: JSON text (null: the default)


def _fields(st: msgspec.inspect.StructType) -> tuple[_Col, ...]:
    return tuple(_col(f.name, f.type, optional=False) for f in st.fields)


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
        if c.kind == "keyed":
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
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items)


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


# ---- Arrow -> record dicts -------------------------------------------------------------


def _values(c: _Col, arr: Any) -> list[Any]:
    """Python values of one column (dicts for structs, lists for lists), in row order."""
    if c.kind in ("scalar", "text_or_json"):
        return arr.to_pylist()  # type: ignore[no-any-return]
    if c.kind == "json":
        return [None if x is None else _loads(x) for x in arr.to_pylist()]
    if c.kind == "struct":
        return _struct_rows(c.fields, arr, arr.is_valid().to_pylist())
    offs = arr.offsets.to_pylist()
    base = offs[0]
    flat = arr.flatten()
    valid = arr.is_valid().to_pylist()
    items = _struct_rows(c.fields, flat, None)
    out: list[Any] = []
    for r in range(len(arr)):
        if not valid[r]:
            out.append(None)
            continue
        chunk = items[offs[r] - base : offs[r + 1] - base]
        out.append({d.pop("name"): d for d in chunk} if c.kind == "keyed" else chunk)
    return out


def _struct_rows(fields: tuple[_Col, ...], arr: Any, valid: list[bool] | None) -> list[Any]:
    """The dict of each row of a struct array; a null field of a required type is left out,
    so the record's default applies (and a file of an older schema reads)."""
    have = {arr.type.field(i).name for i in range(arr.type.num_fields)}
    cols = [(f, _values(f, arr.field(f.name))) for f in fields if f.name in have]
    rows: list[Any] = []
    for r in range(len(arr)):
        if valid is not None and not valid[r]:
            rows.append(None)
            continue
        d = {}
        for f, vals in cols:
            v = vals[r]
            if v is not None or f.optional:
                d[f.name] = v
        rows.append(d)
    return rows


def batch_to_dicts(batch: pa.RecordBatch) -> Iterator[dict[str, Any]]:
    """The record dict of each row (the form ``Trajectory.from_dict`` validates); a batch
    without the record's required columns raises SchemaError at once, not when iterated."""
    names = set(batch.schema.names)
    missing = [c.name for c in _COLUMNS if c.name not in names and not _has_default(c.name)]
    if missing:
        raise SchemaError(
            f"not a stepsieve Parquet file: no column '{missing[0]}' (a foreign layout needs --from FORMAT)"
        )
    return _rows(batch, names)


def _rows(batch: pa.RecordBatch, names: set[str]) -> Iterator[dict[str, Any]]:
    cols: list[tuple[_Col, list[Any], list[Any] | None]] = []
    for c in _COLUMNS:
        if c.name not in names:
            continue
        alt = _loads_all(batch.column(c.json_column)) if c.json_column and c.json_column in names else None
        cols.append((c, _values(c, batch.column(c.name)), alt))
    for r in range(batch.num_rows):
        d: dict[str, Any] = {}
        for c, vals, alt in cols:
            v = vals[r]
            if v is None and alt is not None:
                v = alt[r]
            if v is not None or c.optional:
                d[c.name] = v
        yield d


def _loads_all(arr: Any) -> list[Any]:
    return [None if x is None else _loads(x) for x in arr.to_pylist()]


_DEFAULTS = {f.name for f in msgspec.structs.fields(Trajectory) if f.required is False}


def _has_default(name: str) -> bool:
    return name in _DEFAULTS


