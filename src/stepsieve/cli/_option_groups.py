"""Option groups: a block of typer options declared once, shared by several commands.

typer reads a command's options from its signature and has no way to share a block of them.
A group is a function whose parameters are the options (typer-annotated, with defaults) and
that returns the value a command works with (e.g. ``ModelOptions``). A command names the group
once, as a parameter whose default is the group; :func:`with_option_groups` puts the group's
options in that parameter's place in the signature typer reads, and calls the command with,
for that parameter, a function of no arguments that builds the value from what was given.
The command calls it where it wants the options validated (after ``--help-options``, say)::

    ENGINE_OPTIONS = OptionGroup(_engine_options)   # def _engine_options(engine: EngineOpt = "local", ...)

    @app.command("sample")
    @with_option_groups
    def sample_cmd(n: int = typer.Option(100, "--n"), engine_options: Built[EngineOptions] = ENGINE_OPTIONS):
        eopts = engine_options()
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Built", "OptionGroup", "with_option_groups"]

T = TypeVar("T")
R = TypeVar("R")

Built = Callable[[], T]  # what a command receives for a group: builds (and validates) the value


class OptionGroup(Generic[T]):
    """Options declared once by ``build``'s parameters; ``without(...)`` drops some of them from
    a command (they keep ``build``'s defaults). Called, it builds the value from the defaults."""

    def __init__(self, build: Callable[..., T], omit: tuple[str, ...] = ()) -> None:
        params = inspect.signature(build, eval_str=True).parameters
        unknown = [n for n in omit if n not in params]
        if unknown:
            raise TypeError(f"{build.__name__} has no options {unknown}")
        self.build = build
        self.omit = omit
        self.params = [p for n, p in params.items() if n not in omit]

    def without(self, *names: str) -> OptionGroup[T]:
        return OptionGroup(self.build, self.omit + names)

    def __call__(self) -> T:
        return self.build()


def with_option_groups(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` as typer sees it: each parameter whose default is an :class:`OptionGroup`
    replaced, in place, by the group's options; the command gets a builder of the group's value."""
    sig = inspect.signature(command, eval_str=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, tuple[OptionGroup[Any], list[str]]] = {}
    for p in sig.parameters.values():
        if isinstance(p.default, OptionGroup):
            groups[p.name] = (p.default, [q.name for q in p.default.params])
            params.extend(p.default.params)
        else:
            params.append(p)
    names = [p.name for p in params]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise TypeError(f"{command.__name__}: options declared twice: {clash}")

    @functools.wraps(command)
    def typer_command(*args: Any, **kwargs: Any) -> R:
        for name, (group, members) in groups.items():
            values = {m: kwargs.pop(m) for m in members if m in kwargs}
            kwargs[name] = functools.partial(group.build, **values)
        return command(*args, **kwargs)

    typer_command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    typer_command.__annotations__ = {p.name: p.annotation for p in params} | {"return": sig.return_annotation}
    return typer_command
