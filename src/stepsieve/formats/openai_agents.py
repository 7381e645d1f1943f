"""``openai-agents``: OpenAI Responses API item lists and OpenAI Agents SDK run states.

Accepted records (a file holds one, or JSONL one a line; ``.yaml`` cassettes are read too):

- a Responses item list, or an object with one under ``input`` + ``output`` (a request and
  its response) or ``items``: ``message`` (role user/system/developer/assistant, content
  parts ``input_text``/``output_text``), ``reasoning`` (``summary`` texts), ``function_call``
  ``{call_id, name, arguments}``, ``function_call_output`` ``{call_id, output}``,
  ``computer_call`` ``{call_id, action: {type: click|double_click|drag|keypress|move|
  screenshot|scroll|type|wait, ...}}``, ``computer_call_output`` ``{call_id, output:
  {type: computer_screenshot, image_url}}``;
- an Agents SDK saved run state (``RunState.to_json``: ``$schemaVersion``, ``original_input``,
  ``generated_items`` / ``session_items`` of run items whose ``raw_item`` is a Responses item);
- a recorded exchange (a VCR cassette: ``interactions[].request/response.parsed_body``): the
  last request's ``input`` plus its response's ``output`` is the whole conversation.

Mapping: the input items before the first model output are the ``task`` (a string input is
one user message). An assistant ``message`` or ``reasoning`` item opens a step; the calls
that follow join it, so one model response with text and calls is one ``action`` step
(text and reasoning summaries its ``thought``) and text alone a ``reasoning`` step. Each
``function_call`` is a tool Action, each ``computer_call`` a computer-use Action; outputs
are paired by ``call_id`` (an output for a call never made is an error naming the item),
a screenshot given as a ``data:`` URL becomes the step's image (role ``after``; the writer
moves it into the output's media folder), one given by URL or file id stays in
``meta["image_links"]``.
Item types the importer does not know are kept in ``meta["unknown_events"]``; everything else
of a run state or response goes to ``meta``. The last reasoning step is ``outcome.answer``.
A run state with no items at all is an error (a trajectory needs a step).

Read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import DataError, SchemaError
from stepsieve.formats._agent import UNKNOWN_EVENTS, Turn, openai_computer_action, tool_action
from stepsieve.formats._fields import stable_id, type_name
from stepsieve.formats._files import DocumentFormat, existing_path
from stepsieve.formats.anthropic import read_only
from stepsieve.trajectory import Action, Outcome, SourceRecord, Trajectory

__all__ = ["OpenAIAgents", "responses_steps"]

_OUTPUT_TYPES = frozenset({"reasoning", "function_call", "computer_call"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return ""


def _screenshot(output: Any, turn: Turn, where: str) -> None:
    """A ``computer_screenshot`` output: a ``data:`` URL becomes the step's image (role
    ``after``); an image given by URL or file id is kept, as given, in ``meta["image_links"]``."""
    url = output.get("image_url") if isinstance(output, dict) else None
    if isinstance(url, str) and url.startswith("data:") and ";base64," in url:
        head, data = url.split(",", 1)
        turn.add_image(data, head[5:].split(";")[0] or None, where)
    elif isinstance(output, dict) and (url is not None or "file_id" in output):
        turn.meta.setdefault("image_links", []).append({k: v for k, v in output.items() if k != "type"})


def responses_steps(items: list[Any]) -> tuple[list[Any], list[Turn], list[Any]]:
    """(task messages, turns, unknown items) of a Responses item list."""
    task: list[Any] = []
    turns: list[Turn] = []
    owner: dict[str, Turn] = {}
    unknown: list[Any] = []
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            raise SchemaError(f"item {i} must be an object, got {type_name(it)}")
        kind = it.get("type", "message" if "role" in it else None)
        role = it.get("role")
        open_turn = turns[-1] if turns and not turns[-1].results else None
        if kind == "message" and role != "assistant":
            if turns:
                turns[-1].meta.setdefault("after", []).append(it)
            else:
                task.append(it)
        elif kind in ("message", "reasoning"):  # a tuple, not a set: `type` may be any JSON value
            turn = open_turn if open_turn is not None and not open_turn.actions else None
            if turn is None:
                turn = Turn()
                turns.append(turn)
            if kind == "message":
                turn.texts.append(_text(it.get("content")))
            else:
                turn.thinking.extend(
                    str(s.get("text", "")) for s in it.get("summary") or [] if isinstance(s, dict)
                )
            turn.meta.setdefault("items", []).append(
                {k: v for k, v in it.items() if k not in ("content", "summary")}
            )
        elif kind in ("function_call", "computer_call"):
            turn = open_turn
            if turn is None:
                turn = Turn()
                turns.append(turn)
            call_id = it.get("call_id") or it.get("id")
            action: Action | None
            if kind == "function_call":
                action = tool_action(str(it.get("name")), it.get("arguments") or "", call_id)
            else:
                action = openai_computer_action(it.get("action"), call_id) or tool_action(
                    "computer", it.get("action"), call_id
                )
            turn.actions.append(action)
            if isinstance(call_id, str):
                owner[call_id] = turn
            turn.meta.setdefault("items", []).append(
                {k: v for k, v in it.items() if k not in ("arguments", "action")}
            )
        elif kind in ("function_call_output", "computer_call_output"):
            call_id = it.get("call_id")
            turn = owner.get(call_id) if isinstance(call_id, str) else None
            if turn is None:
                raise SchemaError(
                    f"item {i} ({kind}): output for call_id {call_id!r}, which no earlier call made"
                )
            out = it.get("output")
            if kind == "computer_call_output":
                _screenshot(out, turn, f"item {i}")
                text = ""
            else:
                text = out if isinstance(out, str) else _text(out)
            turn.add_result(call_id, text)  # type: ignore[arg-type]
            turn.meta.setdefault("results", []).append({k: v for k, v in it.items() if k != "output"})
        else:
            unknown.append({"where": f"item {i}", "event": it})
    return task, turns, unknown


def _run_items(state: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    for key in ("generated_items", "session_items"):
        for ri in state.get(key) or []:
            items.append(ri.get("raw_item", ri) if isinstance(ri, dict) else ri)
        if items:
            break
    return items


@dataclass(frozen=True)
class OpenAIAgents(DocumentFormat):
    """Responses item lists, Agents SDK run states, recorded Responses exchanges (read-only)."""

    name: ClassVar[str] = "openai-agents"
    description: ClassVar[str] = (
        "OpenAI Responses items / Agents SDK run state (function and computer calls; read-only)"
    )

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        if not str(path).lower().endswith((".yaml", ".yml")):
            yield from super().iter_records(path, progress)
            return
        # a cassette only; PyYAML comes with transformers. It ships no type information and its
        # stubs (types-PyYAML) are not in the dev extra: only this import is untyped.
        import yaml  # type: ignore[import-untyped]

        p = existing_path(path)
        with open(p, "rb") as fh:
            data = fh.read()
        progress[0] = len(data)
        try:
            doc = yaml.safe_load(data)
        except yaml.YAMLError as e:
            raise DataError(f"malformed YAML: {e}", path=p) from None
        yield SourceRecord(1, doc, raw=data)

    def split(self, doc: Any) -> Iterable[Any]:
        if isinstance(doc, list) and doc and all(isinstance(x, list) for x in doc):
            return doc
        return (doc,)

    def decode(self, obj: Any) -> Trajectory:
        meta: dict[str, Any] = {"source": "openai-agents"}
        task_in: list[Any] = []
        if isinstance(obj, dict) and isinstance(obj.get("interactions"), list):
            obj = self._exchange(obj, meta)
        if isinstance(obj, dict) and ("$schemaVersion" in obj or "generated_items" in obj):
            meta["run_state"] = {
                k: v for k, v in obj.items() if k not in ("generated_items", "original_input")
            }
            original = obj.get("original_input")
            task_in = (
                [{"role": "user", "content": original}] if isinstance(original, str) else list(original or [])
            )
            items = task_in + _run_items(obj)
        elif isinstance(obj, dict) and ("input" in obj or "output" in obj or "items" in obj):
            inp = obj.get("input")
            items = [{"role": "user", "content": inp}] if isinstance(inp, str) else list(inp or [])
            items += list(obj.get("output") or []) + list(obj.get("items") or [])
            rest = {k: v for k, v in obj.items() if k not in ("input", "output", "items")}
            if rest:
                meta["extra_fields"] = rest
        elif isinstance(obj, list):
            items = obj
        else:
            raise SchemaError(f"expected Responses items, a run state or an exchange, got {type_name(obj)}")
        task, turns, unknown = responses_steps(items)
        if not turns:
            raise SchemaError(
                "empty step list: no model output items (function calls, messages) to make steps of"
            )
        steps = [t.step(i) for i, t in enumerate(turns)]
        if unknown:
            meta[UNKNOWN_EVENTS] = unknown
        answer = steps[-1].text if steps[-1].kind == "reasoning" else None
        return Trajectory(
            stable_id("openai-agents", obj), task, steps, Outcome(answer=answer or None), meta=meta
        )

    def _exchange(self, cassette: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        last = cassette["interactions"][-1] if cassette["interactions"] else {}
        try:
            request = last["request"]["parsed_body"]
            response = last["response"]["parsed_body"]
        except (KeyError, TypeError):
            raise SchemaError(
                "a recorded exchange needs interactions[].request/response.parsed_body"
            ) from None
        meta["response"] = {k: v for k, v in response.items() if k != "output"}
        meta["request"] = {k: v for k, v in request.items() if k != "input"}
        return {"input": request.get("input"), "output": response.get("output")}

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
