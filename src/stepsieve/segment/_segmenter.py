"""Step segmentation of raw responses: named, configured Segmenters.

Where a step ends is a choice a user states once (``--in-opt segmenter=step-marker``), not a
``"\\n\\n"`` literal scattered through the code. Every segmenter is a frozen dataclass with a
``split`` and the ``join`` that best inverts it, registered by name in ``SEGMENTERS``:

- ``blank-line`` (default; how ProcessBench and PRM800K responses separate steps)
- ``single-line`` (one step a line; the embedded arith world)
- ``step-marker`` ("Step 1:", "**Step 2.**", "## Step 3:" at a line start begin a step)
- ``regex`` (a user pattern matching the separators)
- ``tag`` (a literal tag ending each step, e.g. Math-Shepherd's ``ки``)

A spec string names one with an optional argument: ``"regex:\\n-{3,}\\n"``, ``"tag:<step>"``.
Steps are stripped of surrounding whitespace and empty ones dropped, so ``join(split(x))``
equals ``x`` for text in the segmenter's normal form (adapters keep the original otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar, Protocol, runtime_checkable

from stepsieve._errors import ConfigError
from stepsieve._registry import Registry

__all__ = [
    "DEFAULT_SEGMENTER",
    "SEGMENTERS",
    "BlankLine",
    "RegexSegmenter",
    "Segmenter",
    "SingleLine",
    "StepMarker",
    "TagSegmenter",
    "get_segmenter",
]

DEFAULT_SEGMENTER = "blank-line"


@runtime_checkable
class Segmenter(Protocol):
    """Splits a response into step texts and joins step texts back into a response."""

    name: ClassVar[str]

    def split(self, text: str) -> list[str]: ...

    def join(self, steps: list[str]) -> str: ...


def _clean(parts: list[str]) -> list[str]:
    return [p.strip() for p in parts if p and p.strip()]


@dataclass(frozen=True)
class BlankLine:
    """Steps are paragraphs: separated by one or more blank lines."""

    name: ClassVar[str] = "blank-line"
    _SEP: ClassVar[re.Pattern[str]] = re.compile(r"\n[ \t\r]*\n")

    def split(self, text: str) -> list[str]:
        return _clean(self._SEP.split(text))

    def join(self, steps: list[str]) -> str:
        return "\n\n".join(steps)


@dataclass(frozen=True)
class SingleLine:
    """One step a line."""

    name: ClassVar[str] = "single-line"

    def split(self, text: str) -> list[str]:
        return _clean(text.split("\n"))

    def join(self, steps: list[str]) -> str:
        return "\n".join(steps)


@dataclass(frozen=True)
class StepMarker:
    """A step begins at each "Step k:" marker at a line start; the marker stays in the step.
    Text before the first marker (a preamble) is a step of its own."""

    pattern: str = r"^[ \t]*(?:#+[ \t]*)?(?:\*\*)?Step[ \t]*\d+[ \t]*[:.]"
    name: ClassVar[str] = "step-marker"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", _compile(self.pattern, re.IGNORECASE | re.MULTILINE))

    def split(self, text: str) -> list[str]:
        starts = [m.start() for m in self._re.finditer(text)]  # type: ignore[attr-defined]
        if not starts:
            return _clean([text])
        bounds = [0, *starts, len(text)] if starts[0] > 0 else [*starts, len(text)]
        return _clean([text[a:b] for a, b in pairwise(bounds)])

    def join(self, steps: list[str]) -> str:
        return "\n".join(steps)


@dataclass(frozen=True)
class RegexSegmenter:
    """Steps are separated by matches of a user pattern (multiline mode)."""

    pattern: str = r"\n"
    joiner: str = "\n"
    name: ClassVar[str] = "regex"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_re", _compile(self.pattern, re.MULTILINE))

    def split(self, text: str) -> list[str]:
        return _clean(self._re.split(text))  # type: ignore[attr-defined]

    def join(self, steps: list[str]) -> str:
        return self.joiner.join(steps)


@dataclass(frozen=True)
class TagSegmenter:
    """Each step ends with a literal tag (Math-Shepherd: ``ки``); text after the last tag
    is not a step."""

    tag: str = "ки"
    name: ClassVar[str] = "tag"

    def split(self, text: str) -> list[str]:
        return _clean(text.split(self.tag)[:-1])

    def join(self, steps: list[str]) -> str:
        return "".join(f"{s} {self.tag}\n" for s in steps).rstrip("\n")


def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    try:
        rx = re.compile(pattern, flags)
    except re.error as e:
        raise ConfigError(f"invalid segmenter pattern {pattern!r}: {e}") from None
    if rx.match(""):
        # A pattern that matches the empty string would split between every character.
        raise ConfigError(f"segmenter pattern {pattern!r} matches the empty string")
    return rx


SEGMENTERS: Registry[type] = Registry("segmenter")
for _cls in (BlankLine, SingleLine, StepMarker, RegexSegmenter, TagSegmenter):
    SEGMENTERS.register(_cls.name, _cls)

_ARG = {"step-marker": "pattern", "regex": "pattern", "tag": "tag"}


def get_segmenter(spec: str | Segmenter = DEFAULT_SEGMENTER) -> Segmenter:
    """A Segmenter from a spec ``"name"`` or ``"name:argument"`` (or a Segmenter, as is)."""
    if not isinstance(spec, str):
        return spec
    name, sep, arg = spec.partition(":")
    cls = SEGMENTERS.get(name)
    if not sep:
        return cls()
    if name not in _ARG:
        raise ConfigError(f"segmenter {name!r} takes no argument (got {spec!r})")
    return cls(**{_ARG[name]: arg})
