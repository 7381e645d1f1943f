"""``openhands``: OpenHands event streams (v0) and SDK conversations (v1).

v0, a JSON list of events (the ``tests/runtime/trajs`` / ``--save-trajectory-path`` layout)::

    [{"id": 0, "source": "user", "action": "message", "args": {"content": "..."}, ...},
     {"id": 5, "source": "agent", "action": "run", "args": {"command": "ls", "thought": "..."},
      "tool_call_metadata": {"function_name": "execute_bash", "tool_call_id": "call_1",
                             "model_response": {...}}},
     {"id": 6, "source": "agent", "observation": "run", "content": "...", "cause": 5,
      "extras": {"metadata": {"exit_code": 0}}}, ...]

v1 (OpenHands software-agent-sdk), a folder per conversation: ``base_state.json`` and
``events/event-NNNNN-<id>.json``, one event each (``kind``: ``SystemPromptEvent``,
``MessageEvent``, ``ActionEvent`` with ``tool_call {id, name, arguments}``, ``ObservationEvent``
with ``tool_call_id``, ``AgentErrorEvent``...). A folder holding several conversation folders
gives one trajectory each.

Mapping: the user messages (and v1 system prompt) before the agent's first event are the
``task``. An agent ``message`` is a ``reasoning`` step. Any other agent action is an
``action`` step: its Action is the tool call (v0: the call of ``tool_call_metadata``, with the
arguments the model wrote when its ``model_response`` has them, else ``args`` dumped; without
metadata the action name with ``args``; v1: ``tool_call``), its ``thought`` the stated thought.
v1 ActionEvents of one ``llm_response_id`` (parallel calls) form one step. Observations are
paired by ``cause`` (v0) or ``tool_call_id`` (v1); the exit code goes to ``meta["returncode"]``,
an ``error`` observation / ``is_error`` / ``AgentErrorEvent`` sets ``meta["is_error"]``. Later
user messages are kept in the previous step's ``meta["after"]``, other known events (state
changes, observations of nothing) in ``meta["other_events"]``, an event of a kind the
importer does not know in ``meta["unknown_events"]``. The ``finish`` action's message is
``outcome.answer``; v1 ``base_state.json`` goes to ``meta["base_state"]``.

Read-only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import orjson

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import UNKNOWN_EVENTS, Turn, obj_of, tool_action
from stepsieve.formats._fields import stable_id, type_name
from stepsieve.formats._files import DocumentFormat
from stepsieve.formats.anthropic import read_only
from stepsieve.trajectory import Outcome, SourceRecord, Trajectory

__all__ = ["OpenHands"]

_V1_OTHER = frozenset(
    {
        "ConversationStateUpdateEvent",
        "PauseEvent",
        "Condensation",
        "CondensationRequest",
        "CondensationSummaryEvent",
        "UserRejectObservation",
    }
)


def _parts_text(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if isinstance(parts, list):
        return "".join(
            str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _v0_call(e: dict[str, Any]) -> tuple[str, str, str | None]:
    """(name, arguments text, call id) of a v0 agent action."""
    meta = obj_of(e.get("tool_call_metadata"))
    args = (
        {k: v for k, v in (e.get("args") or {}).items() if k != "thought"}
        if isinstance(e.get("args"), dict)
        else {}
    )
    name = meta.get("function_name") or e.get("action")
    call_id = meta.get("tool_call_id")
    try:
        for call in meta["model_response"]["choices"][0]["message"]["tool_calls"]:
            if call.get("id") == call_id:
                return str(name), call["function"]["arguments"], call_id
    except (KeyError, IndexError, TypeError):
        pass
    return str(name), json.dumps(args, ensure_ascii=False), call_id


@dataclass(frozen=True)
class OpenHands(DocumentFormat):
    """OpenHands v0 event lists and v1 conversation folders -> steps (read-only)."""

    name: ClassVar[str] = "openhands"
    description: ClassVar[str] = (
        "OpenHands event streams: v0 JSON event lists, v1 SDK conversation folders (read-only)"
    )

    def split(self, doc: Any) -> Any:
        if isinstance(doc, list) and doc and all(isinstance(x, list) for x in doc):
            return doc  # a list of event streams
        return (doc,)

    def iter_folder(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        root = Path(path)
        convs = (
            [root]
            if (root / "events").is_dir()
            else sorted(p.parent for p in root.rglob("events") if p.is_dir())
        )
        if not convs:
            yield SourceRecord(
                1, None, f"no conversation here: {path} has no events/ folder (OpenHands v1 layout)"
            )
            return
        for conv in convs:
            events = []
            try:
                for f in sorted((conv / "events").glob("*.json")):
                    data = f.read_bytes()
                    progress[0] += len(data)
                    events.append(orjson.loads(data))
                base = conv / "base_state.json"
                state = orjson.loads(base.read_bytes()) if base.exists() else None
            except orjson.JSONDecodeError as e:
                yield SourceRecord(1, None, f"{os.path.relpath(f, path)}: malformed JSON: {e}")
                continue
            yield SourceRecord(1, {"conversation": conv.name, "base_state": state, "events": events})

    def decode(self, obj: Any) -> Trajectory:
        if isinstance(obj, dict) and isinstance(obj.get("events"), list):
            return self._v1(obj["events"], obj)
        if isinstance(obj, list) and obj and all(isinstance(e, dict) and "kind" in e for e in obj):
            return self._v1(obj, {})
        if isinstance(obj, list):
            return self._v0(obj)
        raise SchemaError(
            f"an OpenHands trajectory is a list of events or a conversation folder, got {type_name(obj)}"
        )

    # ---- v0 ------------------------------------------------------------------------------

    def _v0(self, events: list[Any]) -> Trajectory:
        task: list[Any] = []
        turns: list[Turn] = []
        by_id: dict[Any, Turn] = {}
        turn: Turn | None
        other: list[Any] = []
        unknown: list[Any] = []
        answer = None
        for i, e in enumerate(events):
            if not isinstance(e, dict):
                raise SchemaError(f"event {i} must be an object, got {type_name(e)}")
            src, action, observation = e.get("source"), e.get("action"), e.get("observation")
            if action is not None and src == "user":
                if turns:
                    turns[-1].meta.setdefault("after", []).append(e)
                else:
                    task.append(
                        {
                            "role": "user",
                            "content": e.get("message") or (e.get("args") or {}).get("content", ""),
                        }
                    )
            elif action == "message" and src == "agent":
                turn = Turn({"event": {k: v for k, v in e.items() if k != "message"}})
                turn.texts.append(str(e.get("message") or (e.get("args") or {}).get("content", "")))
                turns.append(turn)
            elif action in ("system", "change_agent_state", "recall", "null"):
                other.append(e)
            elif action is not None and src == "agent":
                name, args, call_id = _v0_call(e)
                turn = Turn({"event": {k: v for k, v in e.items() if k not in ("message",)}})
                thought = (e.get("args") or {}).get("thought") if isinstance(e.get("args"), dict) else None
                if thought:
                    turn.texts.append(str(thought))
                turn.actions.append(tool_action(name, args, call_id))
                turns.append(turn)
                by_id[e.get("id")] = turn
                if action == "finish":
                    answer = e.get("message") or None
            elif observation is not None:
                turn = by_id.get(e.get("cause"))
                if turn is None:
                    other.append(e)
                    continue
                self._v0_observe(turn, e)
            else:
                unknown.append({"where": f"event {i}", "event": e})
        return self._finish("openhands-v0", task, turns, other, unknown, answer, events)

    def _v0_observe(self, turn: Turn, e: dict[str, Any]) -> None:
        extras = obj_of(e.get("extras"))
        md = obj_of(extras.get("metadata"))
        rc = md.get("exit_code", extras.get("exit_code"))
        is_error = e.get("observation") == "error" or (isinstance(rc, int) and rc != 0)
        a = turn.actions[0]
        turn.add_result(a.id or "", str(e.get("content") or e.get("message") or ""), is_error)
        if isinstance(rc, int):
            turn.meta["returncode"] = rc
        turn.meta.setdefault("results", []).append({k: v for k, v in e.items() if k != "content"})

    # ---- v1 ------------------------------------------------------------------------------

    def _v1(self, events: list[Any], folder: dict[str, Any]) -> Trajectory:
        task: list[Any] = []
        turns: list[Turn] = []
        by_call: dict[str, Turn] = {}
        by_response: dict[str, Turn] = {}
        turn: Turn | None
        other: list[Any] = []
        unknown: list[Any] = []
        answer = None
        for i, e in enumerate(events):
            if not isinstance(e, dict):
                raise SchemaError(f"event {i} must be an object, got {type_name(e)}")
            kind = e.get("kind")
            if kind == "SystemPromptEvent":
                task.append({"role": "system", "content": _parts_text([e.get("system_prompt")])})
            elif kind == "MessageEvent":
                msg = obj_of(e.get("llm_message"))
                text = _parts_text(msg.get("content"))
                if e.get("source") == "agent":
                    turn = Turn({"event": e})
                    turn.texts.append(text)
                    turns.append(turn)
                elif turns:
                    turns[-1].meta.setdefault("after", []).append(e)
                else:
                    task.append({"role": "user", "content": text})
            elif kind == "ActionEvent":
                rid = e.get("llm_response_id")
                turn = by_response.get(rid) if isinstance(rid, str) else None
                if turn is None or turn is not turns[-1]:
                    turn = Turn()
                    turns.append(turn)
                    if isinstance(rid, str):
                        by_response[rid] = turn
                    thought = _parts_text(e.get("thought"))
                    if e.get("reasoning_content"):
                        turn.thinking.append(str(e["reasoning_content"]))
                    if thought:
                        turn.texts.append(thought)
                call = obj_of(e.get("tool_call"))
                call_id = call.get("id") or e.get("tool_call_id")
                name = call.get("name") or e.get("tool_name") or "unknown"
                args = call.get("arguments")
                if args is None:
                    args = {k: v for k, v in (e.get("action") or {}).items() if k != "kind"}
                turn.actions.append(tool_action(str(name), args, call_id))
                turn.meta.setdefault("events", []).append({k: v for k, v in e.items() if k != "thought"})
                if isinstance(call_id, str):
                    by_call[call_id] = turn
                act = obj_of(e.get("action"))
                if act.get("kind") == "FinishAction":
                    answer = act.get("message")
            elif kind in ("ObservationEvent", "AgentErrorEvent"):
                call_id = e.get("tool_call_id")
                turn = by_call.get(call_id) if isinstance(call_id, str) else None
                if turn is None:
                    raise SchemaError(
                        f"event {i} ({kind}): observation for tool_call_id {call_id!r}, which no action made"
                    )
                obs = obj_of(e.get("observation"))
                rc = obs.get("exit_code")
                err = (
                    kind == "AgentErrorEvent"
                    or bool(obs.get("is_error"))
                    or (isinstance(rc, int) and rc != 0)
                )
                text = _parts_text(obs.get("content")) if obs else str(e.get("error", ""))
                turn.add_result(call_id, text, err)  # type: ignore[arg-type]
                if isinstance(rc, int):
                    turn.meta["returncode"] = rc
                turn.meta.setdefault("results", []).append(
                    {k: v for k, v in e.items() if k != "observation"}
                    | {"observation": {k: v for k, v in obs.items() if k != "content"}}
                )
            elif kind in _V1_OTHER:
                other.append(e)
            else:
                unknown.append({"where": f"event {i}", "event": e})
        t = self._finish("openhands-v1", task, turns, other, unknown, answer, events)
        if folder.get("base_state") is not None:
            t.meta["base_state"] = folder["base_state"]
        if folder.get("conversation"):
            t.id = str(folder["conversation"])
        return t

    def _finish(
        self,
        source: str,
        task: list[Any],
        turns: list[Turn],
        other: list[Any],
        unknown: list[Any],
        answer: Any,
        events: list[Any],
    ) -> Trajectory:
        if not turns:
            raise SchemaError("empty step list: no agent event")
        meta: dict[str, Any] = {"source": source}
        if other:
            meta["other_events"] = other
        if unknown:
            meta[UNKNOWN_EVENTS] = unknown
        steps = [t.step(i) for i, t in enumerate(turns)]
        if answer is None and steps[-1].kind == "reasoning":
            answer = steps[-1].text
        return Trajectory(
            stable_id("openhands", events), task, steps, Outcome(answer=answer or None), meta=meta
        )

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
