"""Graders as plug-ins: typed options, one context, one way to build any grader by name.

A registered grader (``GRADERS.register("mc", "stepsieve.graders.mc:MCGrader")``, or an
entry point in the ``stepsieve.graders`` group) is a class with

- ``Options``: a frozen dataclass, one commented field per option (the comment is the
  ``--help-options`` text); absent: the grader has no options;
- ``from_options(options, ctx)`` (a classmethod) building the grader from its options and
  the :class:`GradeContext`; absent: the class is called as ``cls(name=label, **options)``.

:func:`build_grader` resolves the name, parses ``key=value`` options against ``Options``
(types coerced, unknown keys rejected with a "did you mean") and calls the factory; the CLI's
``stepsieve grade`` is a thin layer over it. A grader's configuration hash covers its
non-default options (:func:`hashed_config`), so adding an option keeps old hashes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from stepsieve._errors import ConfigError
from stepsieve._registry import describe_options, parse_options
from stepsieve.backends import Backend
from stepsieve.graders._protocol import GRADERS, Grader

__all__ = [
    "GradeContext",
    "NoOptions",
    "build_grader",
    "describe_grader",
    "grader_options",
    "hashed_config",
    "with_options",
]

O = TypeVar("O")


@dataclass(frozen=True)
class NoOptions:
    """The options of a grader that declares none."""


@dataclass(frozen=True)
class GradeContext:
    """What the caller (the CLI, a script) resolves once for every grader."""

    label: str | None = None  # the label name written (default: the grader's registered name)
    backend: Callable[[], Backend] | None = None  # builds the model backend (the shared model options)
    model: str | None = None  # the model named by the caller, if any (prm: a StepRM directory)
    default_model: bool = True  # no model or backend was chosen: a grader may use its embedded one
    source: Path | None = None  # the input file, whose records name their world (meta.world)
    fmt: str = "stepsieve"  # the input file's format

    def make_backend(self) -> Backend:
        if self.backend is None:
            raise ConfigError(f"grader {self.label}: needs a model backend, and none was configured")
        return self.backend()

    def records_world(self) -> str | None:
        """``meta["world"]`` of the first input record, or None."""
        if self.source is None:
            return None
        from stepsieve.formats import open_reader

        for t in open_reader(self.source, self.fmt, on_error="skip"):
            return t.meta.get("world")
        return None


def grader_options(name: str) -> type:
    """The options dataclass of the grader registered as ``name``."""
    return getattr(GRADERS.get(name), "Options", NoOptions)


def describe_grader(name: str) -> str:
    """The `--help-options` text of the grader registered as ``name``."""
    return describe_options(grader_options(name), f"grader {name!r}")


def build_grader(name: str, options: Mapping[str, Any] | object = (), ctx: GradeContext | None = None) -> Grader:
    """The grader registered as ``name``, from its options (a mapping of values or strings,
    or an ``Options`` instance) and the context."""
    entry = GRADERS.get(name)
    cls = grader_options(name)
    ctx = dataclasses.replace(ctx or GradeContext(), label=(ctx and ctx.label) or name)
    opts: Any = options
    if not isinstance(opts, cls):
        opts = parse_options(cls, dict(opts), f"grader {name!r}")
    factory = getattr(entry, "from_options", None)
    if factory is None:
        return entry(name=ctx.label, **{f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)})
    return factory(opts, ctx)


def with_options(cls: type[O], options: O | None, kw: Mapping[str, Any], owner: str) -> O:
    """``options`` (default: all defaults) with the keyword overrides ``kw`` applied: the
    constructors' ``Grader(..., n=4)`` shorthand for ``Grader(..., Options(n=4))``."""
    if not kw:
        return options if options is not None else cls()
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = [k for k in kw if k not in names]
    if unknown:
        parse_options(cls, {unknown[0]: None}, owner)  # raises ConfigError with a "did you mean"
    return dataclasses.replace(options if options is not None else cls(), **kw)  # type: ignore[type-var]


def hashed_config(options: object, always: Iterable[str] = (), skip: Iterable[str] = ()) -> dict[str, Any]:
    """The options a configuration hash covers: the ``always`` fields (those hashed since
    before this rule, so old hashes stay), then every other field whose value is not its
    default, except ``skip`` (fields the hash covers otherwise, or runtime-only knobs)."""
    always, skip = list(always), set(skip)
    out = {k: getattr(options, k) for k in always}
    for f in dataclasses.fields(options):  # type: ignore[arg-type]
        v = getattr(options, f.name)
        if f.name not in out and f.name not in skip and v != f.default:
            out[f.name] = v
    return out
