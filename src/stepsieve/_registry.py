"""A typed registry of named components (formats, worlds, backends, graders, segmenters).

Entries are lazy ``"module:attribute"`` strings, so registering a heavy component (a torch
backend) costs nothing until it is used. Unknown names raise ConfigError with a
"did you mean ...?" hint.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from stepsieve._errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; values are resolved on first ``get``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, str | T] = {}

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

    def get(self, name: str) -> T:
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
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
