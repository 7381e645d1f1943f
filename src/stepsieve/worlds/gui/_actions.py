"""Action text <-> structured ``Action``: the computer-use vocabulary of OpenAI's ``computer_call``.

The text a policy writes is one call a line, its arguments a JSON list (so strings are JSON
strings and nothing is ever evaluated)::

    click(412, 230)            click(412, 230, "right")     double_click(412, 230)
    move(412, 230)             drag(10, 20, 300, 20)        scroll(320, 240, 0, 200)
    type("2")                  keypress("CTRL", "A")        wait()
    screenshot()               done()

Each maps one to one to an ``Action`` (``to_action``) and back (``format_action``), so a real
``computer_call`` log converts into this text and the record keeps both forms.
"""

from __future__ import annotations

import re

import orjson

from stepsieve._errors import DataError
from stepsieve.trajectory import Action, Point

__all__ = ["ActionError", "format_action", "to_action"]

_CALL = re.compile(r"^\s*>?\s*([a-z_]+)\s*\((.*)\)\s*$", re.DOTALL)
_POINT_TYPES = ("click", "double_click", "move")


class ActionError(DataError):
    """An action line that is not a well-formed call of the vocabulary."""


def _ints(name: str, args: list[object], n: int) -> list[int]:
    if len(args) < n or not all(isinstance(a, int) and not isinstance(a, bool) for a in args[:n]):
        raise ActionError(f"{name}() needs {n} integer arguments, got {args!r}")
    return [int(a) for a in args[:n]]  # type: ignore[call-overload]


def to_action(text: str) -> Action:
    """The ``Action`` an action line stands for; ``ActionError`` saying why when it is malformed
    (an unknown action type, wrong arguments)."""
    m = _CALL.match(text)
    if m is None:
        raise ActionError(f"not an action call: {text.strip()[:80]!r} (expected e.g. click(412, 230))")
    name, inner = m.group(1), m.group(2).strip()
    try:
        args = orjson.loads(f"[{inner}]") if inner else []
    except orjson.JSONDecodeError:
        raise ActionError(f"{name}(): arguments are not a JSON list: {inner[:60]!r}") from None
    if name in _POINT_TYPES:
        x, y = _ints(name, args, 2)
        button = None
        if name == "click":
            if len(args) > 3 or (len(args) == 3 and args[2] not in ("left", "right", "middle")):
                raise ActionError(f"click(x, y[, button]): button must be left, right or middle, got {args[2:]!r}")
            button = str(args[2]) if len(args) == 3 else "left"
        elif len(args) != 2:
            raise ActionError(f"{name}(x, y) takes 2 arguments, got {len(args)}")
        return Action(name, x=x, y=y, button=button)  # type: ignore[arg-type]
    if name == "drag":
        if len(args) < 4 or len(args) % 2:
            raise ActionError(f"drag(x1, y1, x2, y2, ...) needs an even number (>= 4) of integers, got {args!r}")
        xs = _ints(name, args, len(args))
        return Action("drag", path=[Point(xs[i], xs[i + 1]) for i in range(0, len(xs), 2)])
    if name == "scroll":
        if len(args) != 4:
            raise ActionError(f"scroll(x, y, scroll_x, scroll_y) takes 4 integers, got {args!r}")
        x, y, sx, sy = _ints(name, args, 4)
        return Action("scroll", x=x, y=y, scroll_x=sx, scroll_y=sy)
    if name == "type":
        if len(args) != 1 or not isinstance(args[0], str):
            raise ActionError(f"type(text) takes one JSON string, got {args!r}")
        return Action("type", text=args[0])
    if name == "keypress":
        if not args or not all(isinstance(a, str) and a for a in args):
            raise ActionError(f"keypress(key, ...) takes one or more key names, got {args!r}")
        return Action("keypress", keys=[str(a) for a in args])
    if name in ("wait", "screenshot", "done"):
        if args:
            raise ActionError(f"{name}() takes no arguments, got {args!r}")
        return Action(name)  # type: ignore[arg-type]
    raise ActionError(
        f"unknown action type {name!r} (known: click, double_click, move, drag, scroll, type, keypress, "
        "wait, screenshot, done)"
    )


def _json(v: object) -> str:
    return orjson.dumps(v).decode()


def format_action(a: Action) -> str:
    """The canonical action line of an ``Action`` (``to_action`` inverts it)."""
    t = a.type
    if t in _POINT_TYPES:
        if a.x is None or a.y is None:
            raise ActionError(f"{t} action without x/y")
        extra = f", {_json(a.button)}" if t == "click" and a.button not in (None, "left") else ""
        return f"{t}({a.x}, {a.y}{extra})"
    if t == "drag":
        if not a.path or len(a.path) < 2:
            raise ActionError("drag action needs a path of at least 2 points")
        return "drag(" + ", ".join(f"{p.x}, {p.y}" for p in a.path) + ")"
    if t == "scroll":
        return f"scroll({a.x}, {a.y}, {a.scroll_x or 0}, {a.scroll_y or 0})"
    if t == "type":
        return f"type({_json(a.text or '')})"
    if t == "keypress":
        return "keypress(" + ", ".join(_json(k) for k in a.keys or []) + ")"
    if t in ("wait", "screenshot", "done"):
        return f"{t}()"
    raise ActionError(f"action type {t!r} has no computer-use text form")
