"""The format registry: names -> adapter classes (lazy), and ``get_format`` to build one
with options, coercing option strings from the CLI to each option's declared type."""

from __future__ import annotations

import dataclasses
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve._registry import Registry
from stepsieve.formats._protocol import Format

__all__ = ["FORMATS", "format_options", "get_format"]

FORMATS: Registry[type] = Registry("format")
FORMATS.register("stepsieve", "stepsieve.formats.stepsieve:Stepsieve")
FORMATS.register("processbench", "stepsieve.formats.processbench:ProcessBench")
FORMATS.register("prmbench", "stepsieve.formats.prmbench:PRMBench")
FORMATS.register("prm800k", "stepsieve.formats.prm800k:PRM800K")
FORMATS.register("math-shepherd", "stepsieve.formats.math_shepherd:MathShepherd")
FORMATS.register("trl", "stepsieve.formats.trl:TRLStepwise")
FORMATS.register("openai-chat", "stepsieve.formats.openai_chat:OpenAIChat")
FORMATS.register("responses", "stepsieve.formats.responses:Responses")


def format_options(name: str) -> dict[str, tuple[Any, Any]]:
    """The options a format takes: name -> (type, default)."""
    cls = FORMATS.get(name)
    return {f.name: (f.type, f.default) for f in dataclasses.fields(cls)}


def _coerce(fmt: str, key: str, value: Any, typ: Any) -> Any:
    if not isinstance(value, str):
        return value
    kind = typ if isinstance(typ, type) else {"str": str, "bool": bool, "float": float, "int": int}.get(str(typ), str)
    try:
        if kind is bool:
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        return kind(value)
    except ValueError:
        raise ConfigError(f"format {fmt!r} option {key!r} must be a {kind.__name__}, got {value!r}") from None


def get_format(name: str, **options: Any) -> Format:
    """An adapter instance: ``get_format("prm800k", neutral="correct")``. Unknown options
    are errors (a misspelt option must not silently fall back to a default)."""
    known = format_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"format {name!r} has no option {unknown[0]!r} (options: {allowed})")
    cls = FORMATS.get(name)
    kwargs = {k: _coerce(name, k, v, known[k][0]) for k, v in options.items()}
    return cls(**kwargs)
