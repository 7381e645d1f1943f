"""``anthropic``: Anthropic Messages transcripts (tool use, including computer use).

    {"system": "...", "messages": [
        {"role": "user", "content": "Open the settings"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "..."}, {"type": "text", "text": "I'll click."},
            {"type": "tool_use", "id": "toolu_1", "name": "computer",
             "input": {"action": "left_click", "coordinate": [640, 400]}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "clicked"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "..."}}]}]},
        ...], ...}

A file holds one transcript (an object, or the bare ``messages`` list) or is JSONL with one
transcript a line. Mapping:

- the messages before the first assistant message are the ``task`` (a message list; the
  ``system`` prompt, when given, first as a system message);
- each assistant message is a step. With ``tool_use`` blocks it is an ``action`` step: each
  block is an Action (``name``, ``input`` dumped as JSON ``arguments``, ``id``); a call to
  the computer-use tool (``name == "computer"``) becomes a computer-use Action (left_click ->
  click button left, double_click, mouse_move -> move, left_click_drag -> drag, type, key ->
  keypress with ``+``-split keys, scroll with direction x amount, screenshot, wait; actions
  with no counterpart stay tool calls). ``thinking`` and ``text`` blocks are its ``thought``.
  Without tool use it is a ``reasoning`` step whose text is the text blocks;
- ``tool_result`` blocks of the next user message are the observations of the calls they
  name (``is_error`` -> ``meta["is_error"]``); a result whose ``tool_use_id`` no call made is
  an error naming the message and the id. A base64 image block becomes one of the step's
  ``images`` (role ``after``; the writer moves it into the output's media folder, never
  inlined), an image by URL or file id stays in ``meta["image_links"]``;
- later user text is kept in the previous step's ``meta["after"]``; a block type the importer
  does not know goes to ``meta["unknown_events"]``; the last reasoning step's text is
  ``outcome.answer``; other top-level keys go to ``meta["extra_fields"]``.

Read-only: convert to ``stepsieve`` or ``openai-chat`` to write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import DataError, SchemaError
from stepsieve.formats._agent import (
    UNKNOWN_EVENTS,
    Turn,
    anthropic_computer_action,
    tool_action,
)
from stepsieve.formats._fields import extra_fields, require_object, stable_id, type_name
from stepsieve.formats._files import DocumentFormat
from stepsieve.trajectory import Outcome, Step, Trajectory

__all__ = ["Anthropic", "AnthropicSteps", "read_only"]

_KNOWN = frozenset({"messages", "system", "id"})


def read_only(name: str) -> DataError:
    return DataError(
        f"{name} is a read-only format: write stepsieve or openai-chat instead (--to openai-chat)"
    )


def result_text(content: Any, turn: Turn, unknown: list[Any], where: str) -> str:
    """The text of a ``tool_result`` content (a string or blocks). Its base64 images become
    the turn's step images (moved into the output's media folder by the writer); an image
    given by URL or file id is kept, as given, in ``meta["image_links"]``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise SchemaError(f"{where}.content must be a string or a list of blocks, got {type_name(content)}")
    parts = []
    for j, b in enumerate(content):
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "text":
            parts.append(str(b.get("text", "")))
        elif kind == "image":
            src = b.get("source") if isinstance(b.get("source"), dict) else {}
            if src.get("type") == "base64":
                turn.add_image(src.get("data"), src.get("media_type"), f"{where}.content[{j}]")
            else:  # a URL or file reference is kept as it is
                turn.meta.setdefault("image_links", []).append({k: v for k, v in src.items() if k != "data"})
        else:
            unknown.append({"where": f"{where}.content[{j}]", "event": b})
    return "\n".join(parts)


class AnthropicSteps:
    """Builds steps from Anthropic content blocks; shared with the Claude Code importer.

    ``assistant(blocks)`` adds blocks to the current turn (``new_turn`` starts one);
    ``results(blocks)`` attaches tool results to the call they name and returns the blocks
    that are not results (user text)."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.owner: dict[str, Turn] = {}  # call id -> the turn that made the call
        self.unknown: list[Any] = []

    def new_turn(self, meta: dict[str, Any] | None = None) -> Turn:
        turn = Turn(meta)
        self.turns.append(turn)
        return turn

    def assistant(self, turn: Turn, blocks: Any, where: str) -> None:
        if isinstance(blocks, str):
            turn.texts.append(blocks)
            return
        if not isinstance(blocks, list):
            raise SchemaError(
                f"{where}.content must be a string or a list of blocks, got {type_name(blocks)}"
            )
        for j, b in enumerate(blocks):
            kind = b.get("type") if isinstance(b, dict) else None
            if kind == "text":
                turn.texts.append(str(b.get("text", "")))
            elif kind in ("thinking", "redacted_thinking"):
                turn.thinking.append(str(b.get("thinking", "")))
            elif kind in ("tool_use", "server_tool_use"):
                name = b.get("name")
                if not isinstance(name, str):
                    raise SchemaError(f"{where}.content[{j}].name must be a string, got {type_name(name)}")
                call_id = b.get("id") if isinstance(b.get("id"), str) else None
                action = anthropic_computer_action(b.get("input"), call_id) if name == "computer" else None
                turn.actions.append(action or tool_action(name, b.get("input"), call_id))
                if call_id is not None:
                    self.owner[call_id] = turn
                rest = {k: v for k, v in b.items() if k not in ("type", "id", "name", "input")}
                if rest:
                    turn.meta.setdefault("block_fields", {})[call_id or str(j)] = rest
            else:
                self.unknown.append({"where": f"{where}.content[{j}]", "event": b})

    def results(self, blocks: Any, where: str, line: int | None = None) -> list[Any]:
        if not isinstance(blocks, list):
            return [blocks]
        rest = []
        for j, b in enumerate(blocks):
            if not (isinstance(b, dict) and b.get("type") == "tool_result"):
                rest.append(b)
                continue
            call_id = b.get("tool_use_id")
            turn = self.owner.get(call_id) if isinstance(call_id, str) else None
            if turn is None:
                raise SchemaError(
                    f"{where}.content[{j}]: tool_result for tool_use id {call_id!r}, "
                    "which no earlier tool_use made",
                    line=line,
                )
            text = result_text(b.get("content"), turn, self.unknown, f"{where}.content[{j}]")
            turn.add_result(call_id, text, bool(b.get("is_error")) if "is_error" in b else None)  # type: ignore[arg-type]
        return rest

    def steps(self) -> list[Step]:
        return [t.step(i) for i, t in enumerate(self.turns)]


@dataclass(frozen=True)
class Anthropic(DocumentFormat):
    """Anthropic Messages transcripts -> steps (no options; read-only)."""

    name: ClassVar[str] = "anthropic"
    description: ClassVar[str] = (
        "Anthropic Messages transcripts: tool_use/tool_result blocks, computer use (read-only)"
    )

    def split(self, doc: Any) -> Iterable[Any]:
        if isinstance(doc, list) and doc and all(isinstance(m, dict) and "role" in m for m in doc):
            return (doc,)  # the bare messages list
        if isinstance(doc, list):
            return doc
        return (doc,)

    def decode(self, obj: Any) -> Trajectory:
        if isinstance(obj, list):
            obj = {"messages": obj}
        obj = require_object(obj, "an Anthropic transcript")
        messages = obj.get("messages")
        if not isinstance(messages, list):
            raise SchemaError(f"missing required field 'messages' (a list), got {type_name(messages)}")
        task: list[Any] = []
        if obj.get("system") is not None:
            task.append({"role": "system", "content": obj["system"]})
        b = AnthropicSteps()
        for i, m in enumerate(messages):
            where = f"messages[{i}]"
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                raise SchemaError(f"{where} must be an object with role user or assistant")
            extra = {k: v for k, v in m.items() if k not in ("role", "content")}
            if m["role"] == "assistant":
                turn = b.new_turn({"message": extra} if extra else None)
                b.assistant(turn, m.get("content"), where)
                continue
            rest = b.results(m.get("content"), where)
            if not b.turns:
                task.append(m)
            elif rest:  # user text after a turn: kept in place
                kept = {**m, "content": rest} if isinstance(m.get("content"), list) else m
                b.turns[-1].meta.setdefault("after", []).append(kept)
        if not b.turns:
            raise SchemaError("empty step list: no assistant message in 'messages'")
        steps = b.steps()
        meta: dict[str, Any] = {"source": "anthropic"}
        if b.unknown:
            meta[UNKNOWN_EVENTS] = b.unknown
        ex = extra_fields(obj, _KNOWN)
        if ex:
            meta["extra_fields"] = ex
        answer = steps[-1].text if steps[-1].kind == "reasoning" else None
        tid = obj.get("id")
        tid = (
            str(tid)
            if isinstance(tid, (str, int)) and not isinstance(tid, bool)
            else stable_id("anthropic", obj)
        )
        return Trajectory(tid, task, steps, Outcome(answer=answer), meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
