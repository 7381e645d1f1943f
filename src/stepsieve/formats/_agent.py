"""Shared pieces of the agent-log importers: actions, their text, observations, media.

Conventions every importer follows (and ``stepsieve inspect``, the openai-chat writer and
the agent-rules grader read):

- an action step's ``actions`` hold its calls; ``text`` renders them one a line, a tool call
  as ``name(arguments)`` (the openai-chat style) and a computer-use action as
  ``click({"x": 10, "y": 20})``; ``observation`` is the result text (the results of several
  calls joined by newlines, each also kept, in call order, in ``meta["observations"]``);
- ``meta["is_error"]`` is True where the log flags the result as an error, and
  ``meta["returncode"]`` holds a command's exit status where the log has one;
- images in results are never inlined: a base64 image becomes one of the step's ``images``
  (role ``after``: the screen the action produced), held as a ``data:`` reference until the
  writer moves it into the output's media folder (``stepsieve.media``); an image the log
  gives by URL or file id is kept as given in ``meta["image_links"]``;
- trajectory ``meta["unknown_events"]`` keeps, unchanged, every event or content block the
  importer does not know (``stepsieve inspect`` counts them).
"""

from __future__ import annotations

import json
from typing import Any

from stepsieve._errors import DataError, SchemaError
from stepsieve.media import inline_ref
from stepsieve.trajectory import Action, MediaRef, Point, Step

__all__ = [
    "UNKNOWN_EVENTS",
    "Turn",
    "anthropic_computer_action",
    "arguments_text",
    "list_of",
    "obj_of",
    "openai_computer_action",
    "render_action",
    "render_actions",
    "tool_action",
]

UNKNOWN_EVENTS = "unknown_events"


def obj_of(v: Any) -> dict[str, Any]:
    """``v`` when it is a JSON object, else an empty one (optional nested fields)."""
    return v if isinstance(v, dict) else {}


def list_of(v: Any) -> list[Any]:
    """``v`` when it is a JSON list, else an empty one."""
    return v if isinstance(v, list) else []


def arguments_text(arguments: Any) -> str:
    """Tool arguments as JSON text: a string is kept exactly as written, anything else is
    dumped (Anthropic ``input`` objects, OTel argument objects)."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps({} if arguments is None else arguments, ensure_ascii=False)


def call_id_of(v: Any) -> str | None:
    """A log's call id as the record's type: text (a number becomes its text), else None —
    Structs are not validated when built, so a malformed log must not put a ``true`` there."""
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return None


def tool_action(name: str, arguments: Any, call_id: Any = None) -> Action:
    return Action("tool", name=str(name), arguments=arguments_text(arguments), id=call_id_of(call_id))


_FIELDS = ("x", "y", "button", "text", "keys", "scroll_x", "scroll_y")


def render_action(a: Action) -> str:
    """One action as a line of text: ``name(arguments)`` or ``click({"x": 1, "y": 2})``."""
    if a.type == "tool":
        return f"{a.name}({a.arguments or ''})"
    fields: dict[str, Any] = {k: getattr(a, k) for k in _FIELDS if getattr(a, k) is not None}
    if a.path is not None:
        fields["path"] = [[p.x, p.y] for p in a.path]
    return f"{a.type}({json.dumps(fields, ensure_ascii=False)})" if fields else f"{a.type}()"


def render_actions(actions: list[Action]) -> str:
    return "\n".join(render_action(a) for a in actions)


def _xy(v: Any) -> tuple[int, int] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(c, (int, float)) for c in v):
        return int(v[0]), int(v[1])
    return None


_ANTHROPIC_CLICKS = {"left_click": "left", "right_click": "right", "middle_click": "middle"}
_SCROLL = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def anthropic_computer_action(inp: Any, call_id: str | None) -> Action | None:
    """Anthropic's computer-use tool input (``{"action": "left_click", "coordinate": [x, y]}``)
    as an action of OpenAI's ``computer_call`` vocabulary; None for an action that has no
    counterpart there (``cursor_position``, ``triple_click``, ``hold_key``...), which the
    importer keeps as a plain tool call."""
    if not isinstance(inp, dict) or not isinstance(inp.get("action"), str):
        return None
    act = inp["action"]
    call_id = call_id_of(call_id)
    xy = _xy(inp.get("coordinate"))
    x, y = xy if xy else (None, None)
    if act in _ANTHROPIC_CLICKS and xy:
        return Action("click", id=call_id, x=x, y=y, button=_ANTHROPIC_CLICKS[act])
    if act == "double_click" and xy:
        return Action("double_click", id=call_id, x=x, y=y)
    if act == "mouse_move" and xy:
        return Action("move", id=call_id, x=x, y=y)
    if act == "left_click_drag":
        start = _xy(inp.get("start_coordinate"))
        if start and xy:
            return Action("drag", id=call_id, path=[Point(*start), Point(*xy)])
        return None
    if act == "type" and isinstance(inp.get("text"), str):
        return Action("type", id=call_id, text=inp["text"])
    if act == "key" and isinstance(inp.get("text"), str):
        return Action("keypress", id=call_id, keys=inp["text"].split("+"))
    if act == "screenshot":
        return Action("screenshot", id=call_id)
    if act == "wait":
        return Action("wait", id=call_id)
    if act == "scroll":
        dx, dy = _SCROLL.get(str(inp.get("scroll_direction")), (0, 0))
        amount = inp.get("scroll_amount")
        n = int(amount) if isinstance(amount, (int, float)) else 1
        return Action("scroll", id=call_id, x=x, y=y, scroll_x=dx * n, scroll_y=dy * n)
    return None


_OPENAI_TYPES = frozenset(
    {"click", "double_click", "drag", "keypress", "move", "screenshot", "scroll", "type", "wait"}
)


def openai_computer_action(action: Any, call_id: str | None) -> Action | None:
    """An OpenAI ``computer_call`` item's ``action`` object as an Action (None when unknown)."""
    if not isinstance(action, dict) or action.get("type") not in _OPENAI_TYPES:
        return None
    call_id = call_id_of(call_id)
    path = action.get("path")
    pts = (
        [Point(int(p["x"]), int(p["y"])) for p in path if isinstance(p, dict)]
        if isinstance(path, list)
        else None
    )

    def num(k: str) -> int | None:
        v = action.get(k)
        return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    keys = action.get("keys")
    text = action.get("text")
    return Action(
        action["type"],
        id=call_id,
        x=num("x"),
        y=num("y"),
        button=action.get("button") if isinstance(action.get("button"), str) else None,
        text=text if isinstance(text, str) else None,
        keys=[str(k) for k in keys] if isinstance(keys, list) else None,
        scroll_x=num("scroll_x"),
        scroll_y=num("scroll_y"),
        path=pts,
    )


class Turn:
    """One assistant turn being assembled from a log: its reasoning, calls and their results,
    made into a Step by ``step()`` once the log has given everything it has for it."""

    __slots__ = ("actions", "errors", "images", "meta", "results", "texts", "thinking")

    def __init__(self, meta: dict[str, Any] | None = None) -> None:
        self.thinking: list[str] = []
        self.texts: list[str] = []
        self.actions: list[Action] = []
        self.results: dict[str, str] = {}  # call id -> result text
        self.errors: dict[str, bool] = {}
        self.images: list[MediaRef] = []
        self.meta: dict[str, Any] = meta if meta is not None else {}

    def add_image(self, data: Any, mime: Any, where: str) -> None:
        """A base64 image the log inlines in a result (the screen after the action)."""
        if not isinstance(data, str):
            raise SchemaError(f"{where}: image data must be base64 text, got {type(data).__name__}")
        try:
            self.images.append(inline_ref(data, mime=mime if isinstance(mime, str) else None, role="after"))
        except DataError as e:
            raise SchemaError(f"{where}: {e.reason}") from None

    def call_ids(self) -> list[str]:
        return [a.id for a in self.actions if a.id is not None]

    def add_result(self, call_id: str, text: str, is_error: bool | None = None) -> None:
        if not isinstance(call_id, str):  # found by tests/reliability (hypothesis): a list id crashed
            raise SchemaError(f"a tool result's call id must be a string, got {type(call_id).__name__}")
        self.results[call_id] = self.results[call_id] + "\n" + text if call_id in self.results else text
        if is_error is not None:
            self.errors[call_id] = self.errors.get(call_id, False) or is_error

    def step(self, index: int) -> Step:
        meta = dict(self.meta)
        if not self.actions:
            text = "".join(self.texts)
            thought = "\n\n".join(self.thinking) or None
            if not text.strip() and thought is not None:
                text, thought = thought, None
            return Step(index, text, "reasoning", thought=thought, meta=meta or None, images=list(self.images))
        thought = "\n\n".join([*self.thinking, *(t for t in self.texts if t.strip())]) or None
        obs = [self.results.get(a.id) if a.id is not None else None for a in self.actions]
        if len(self.actions) == 1 and self.actions[0].id is None and "" in self.results:
            obs = [self.results[""]]
        given = [o for o in obs if o is not None]
        if len(self.actions) > 1 and given:
            meta["observations"] = obs
        if any(self.errors.values()):
            meta["is_error"] = True
        return Step(
            index,
            render_actions(self.actions),
            "action",
            observation="\n".join(given) if given else None,
            thought=thought,
            meta=meta or None,
            actions=list(self.actions),
            images=list(self.images),
        )
