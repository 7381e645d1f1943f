"""Typed field access for foreign records: each failure is a SchemaError naming the field.

Shared by the adapters so that "missing required field 'problem'" and "field 'steps' must
be a list of strings, got integer" read the same whatever the format.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from stepsieve._errors import DataError, SchemaError
from stepsieve.trajectory import Label, Trajectory

__all__ = [
    "TRUTH",
    "extra_fields",
    "optional",
    "put_extra_fields",
    "require",
    "require_object",
    "stable_id",
    "str_list",
    "truth_label",
    "type_name",
]

# Ground-truth labels imported from a dataset, and those the embedded worlds write.
TRUTH = "truth"

_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list", dict: "an object"}


def type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(v), type(v).__name__
    )


def _is(v: Any, typ: type | tuple[type, ...]) -> bool:
    if isinstance(v, bool) and (typ is int or typ is float or (isinstance(typ, tuple) and bool not in typ)):
        return False
    if typ is float:
        return isinstance(v, (int, float))
    return isinstance(v, typ)


def _want(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join(_NAMES.get(t, t.__name__) for t in typ)
    return _NAMES.get(typ, typ.__name__)


def require_object(obj: Any, what: str = "a record") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SchemaError(f"{what} must be a JSON object, got {type_name(obj)}")
    return obj


def require(obj: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    """``obj[key]``, which must exist and have type ``typ``."""
    name = f"{where}{key}"
    if key not in obj or obj[key] is None:
        raise SchemaError(f"missing required field '{name}'")
    v = obj[key]
    if not _is(v, typ):
        raise SchemaError(f"field '{name}' must be {_want(typ)}, got {type_name(v)}")
    return v


def optional(obj: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str = "") -> Any:
    """``obj[key]`` if present and not null (then of type ``typ``), else None."""
    v = obj.get(key)
    if v is not None and not _is(v, typ):
        raise SchemaError(f"field '{where}{key}' must be {_want(typ)} or null, got {type_name(v)}")
    return v


def str_list(obj: dict[str, Any], key: str, *, nonempty: bool = True) -> list[str]:
    """A required list of strings (a step list: empty is an error when ``nonempty``)."""
    v = require(obj, key, list)
    for i, s in enumerate(v):
        if not isinstance(s, str):
            raise SchemaError(f"field '{key}' must be a list of strings, item {i} is {type_name(s)}")
    if nonempty and not v:
        raise SchemaError(f"empty step list: field '{key}' has no steps")
    return v


def extra_fields(obj: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """Top-level keys the adapter does not map, kept so a round trip loses nothing."""
    return {k: v for k, v in obj.items() if k not in known}


def put_extra_fields(out: dict[str, Any], t: Trajectory) -> dict[str, Any]:
    """Write back the keys ``extra_fields`` kept (never overriding mapped ones)."""
    for k, v in (t.meta.get("extra_fields") or {}).items():
        out.setdefault(k, v)
    return out


def stable_id(prefix: str, obj: Any) -> str:
    """An id for records that have none: a hash of their content (stable across runs)."""
    digest = hashlib.sha1(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
    return f"{prefix}-{digest[:12]}"


def truth_label(correct: bool, extra: dict[str, Any] | None = None) -> Label:
    """A ground-truth label: score 1.0/0.0 and the matching verdict."""
    return Label(1.0 if correct else 0.0, "correct" if correct else "incorrect", extra=extra)


def need_label(t: Trajectory, label: str, fmt: str) -> None:
    """Encoders call this before deriving the format's label fields from ``label``."""
    if not any(label in s.labels for s in t.steps):
        raise DataError(f"trajectory {t.id} has no '{label}' labels, which {fmt} needs")
