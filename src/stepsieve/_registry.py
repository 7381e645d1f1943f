"""A typed registry of named components (formats, worlds, backends, graders, segmenters),
and the typed options such a component declares.

Entries are lazy ``"module:attribute"`` strings, so registering a heavy component (a torch
backend) costs nothing until it is used. A registry with an entry-point ``group`` also lists
what installed distributions register there (``[project.entry-points."stepsieve.graders"]``),
so a third-party plug-in needs no change here. Unknown names raise ConfigError with a
"did you mean ...?" hint.

A component's options are a frozen dataclass with a comment per field (the comment is the
help text). :func:`parse_options` builds one from ``key=value`` strings (the CLI's ``-o``),
coercing each value to its field's type (int, float, bool, str, Path, Optional, Literal)
and rejecting unknown keys with a "did you mean"; :func:`describe_options` lists them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import io
import re
import tokenize
import types
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from stepsieve._errors import ConfigError

__all__ = ["Registry", "check_options", "describe_options", "option_help", "parse_options"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; values are resolved on first ``get``."""

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group  # entry-point group listing third-party entries
        self._entries: dict[str, str | T] = {}
        self._scanned = group is None

    def register(self, name: str, target: str | T | None = None) -> Callable[[T], T] | None:
        """Register ``target`` (an object or a lazy "module:attr") under ``name``.

        Used bare (``reg.register("x", obj)``) or as a decorator (``@reg.register("x")``).
        """
        if target is not None:
            self._entries[name] = target
            return None

        def deco(obj: T) -> T:
            self._entries[name] = obj
            return obj

        return deco

    def _scan(self) -> None:
        """Add the entry points of ``group`` once (built-in names win over plug-ins)."""
        if not self._scanned and self.group is not None:
            self._scanned = True
            for ep in entry_points(group=self.group):
                self._entries.setdefault(ep.name, ep.value)

    def get(self, name: str) -> T:
        self._scan()
        try:
            entry = self._entries[name]
        except KeyError:
            hint = difflib.get_close_matches(name, self._entries, n=1)
            msg = f"unknown {self.kind} {name!r}"
            if hint:
                msg += f"; did you mean {hint[0]!r}?"
            msg += f" (known: {', '.join(sorted(self._entries))})"
            raise ConfigError(msg) from None
        if isinstance(entry, str) and ":" in entry:
            module, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module.strip()), attr.split("[")[0].strip())
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        self._scan()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._scan()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# ---- options ---------------------------------------------------------------------------

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "|".join(str(a) for a in get_args(tp))
    if get_origin(tp) in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, raw: Any, strict: bool) -> Any:
    """``raw`` as a value of type ``tp``; a string is parsed unless ``strict``. ValueError if not."""
    origin = get_origin(tp)
    text = raw.strip() if isinstance(raw, str) and not strict else None
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (raw is None or (text is not None and text.lower() in ("none", "null"))):
            return None
        for a in args:
            if a is not type(None):
                try:
                    return _coerce(a, raw, strict)
                except ValueError:
                    pass
    elif origin is Literal:
        for choice in get_args(tp):
            if raw == choice or (text is not None and text == str(choice)):
                return choice
    elif tp is bool:
        if isinstance(raw, bool):
            return raw
        if text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
    elif tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if text is not None and re.fullmatch(r"[-+]?\d+", text):
            return int(text)
    elif tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(raw, str):
            return raw
    elif tp is Path:
        if isinstance(raw, (str, Path)):
            return Path(raw)
    elif isinstance(tp, type) and isinstance(raw, tp):
        return raw
    raise ValueError(f"expects {_type_name(tp)}, got {raw!r}")


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init}


def check_options(options: Any, owner: str) -> None:
    """Check every field of an options dataclass against its declared type (Literal choices
    included), for options built in code; ConfigError names ``owner`` and the option."""
    hints = get_type_hints(type(options))
    for name in _fields(type(options)):
        try:
            _coerce(hints[name], getattr(options, name), strict=True)
        except ValueError as e:
            raise ConfigError(f"{owner}: option {name} {e}") from None


def parse_options(cls: type[T], values: Mapping[str, Any], owner: str) -> T:
    """An instance of the options dataclass ``cls`` from ``values`` (strings are parsed)."""
    fields, hints = _fields(cls), get_type_hints(cls)
    kw: dict[str, Any] = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in fields:
            hint = difflib.get_close_matches(name, fields, n=1)
            msg = f"{owner} has no option {key!r}"
            msg += f"; did you mean {hint[0]!r}?" if hint else ""
            raise ConfigError(msg + f" (options: {', '.join(fields) or 'none'})")
        try:
            kw[name] = _coerce(hints[name], raw, strict=False)
        except ValueError as e:
            raise ConfigError(f"{owner}: option {name} {e}") from None
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"{owner}: {e}") from None


def option_help(cls: type) -> dict[str, str]:
    """Each field's trailing comment in the class source (the help text)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT}
    lines = enumerate(source.splitlines(), start=1)
    found = {(m.group(1), i) for i, line in lines if (m := re.match(r"\s+(\w+)\s*:", line))}
    return {name: comments[i] for name, i in found if i in comments and name in _fields(cls)}


def describe_options(cls: type, owner: str) -> str:
    """One line per option: name, type, default and help (``--help-options``)."""
    fields, hints, helps = _fields(cls), get_type_hints(cls), option_help(cls)
    if not fields:
        return f"{owner} has no options."
    rows = [(n, _type_name(hints[n]), repr(f.default) if f.default is not dataclasses.MISSING else "(required)",
             helps.get(n) or f.metadata.get("help", "")) for n, f in fields.items()]
    w = [max(len(r[k]) for r in rows) for k in range(3)]
    lines = [f"Options of {owner} (set with -o KEY=VALUE):"]
    lines += [f"  {n:<{w[0]}}  {t:<{w[1]}}  {d:<{w[2]}}  {h}".rstrip() for n, t, d, h in rows]
    return "\n".join(lines)
