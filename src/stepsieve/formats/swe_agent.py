"""``swe-agent``: SWE-agent trajectories (``*.traj``).

    {"trajectory": [{"action": "ls -la", "observation": "...", "thought": "...", "response": "...",
                     "state": {...}, "execution_time": 0.1, "query": [...], "extra_info": {...}}, ...],
     "history": [{"role": "system"|"user"|"assistant"|"tool", "content": ..., "thought": ...,
                  "action": ..., "tool_calls": [...], "message_type": ..., "agent": ...}, ...],
     "info": {"exit_status": "submitted", "submission": "diff ...", "model_stats": {...}, ...},
     "replay_config": ..., "environment": ...}

Mapping: the ``history`` messages before the first assistant message are the ``task``.
Steps come from ``trajectory`` when it has entries (one step each: ``thought``, ``action``,
``observation``; ``response``, ``state``, ``execution_time``... in ``step.meta``), else from the
assistant messages of ``history`` (demonstrations have only a history), each observed by the
``tool``/``user`` messages that follow it. Actions: the assistant message's ``tool_calls``
where it has them (function-calling agents: ``find_file``, ``edit``, ``bash``, ``submit``...),
else ``Action("tool", name="bash", arguments='{"command": <action>}')`` (SWE-agent runs every
command in its shell). ``info.exit_status`` goes to ``meta["exit_status"]``, ``info.submission``
is ``outcome.answer``; ``info`` and the other top-level keys are kept in ``meta``.

Read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import Turn, list_of, obj_of, tool_action
from stepsieve.formats._fields import extra_fields, stable_id, type_name
from stepsieve.formats._files import DocumentFormat
from stepsieve.formats.anthropic import read_only
from stepsieve.formats.mini_swe_agent import message_text
from stepsieve.trajectory import Outcome, Trajectory

__all__ = ["SweAgent"]

_KNOWN = frozenset({"trajectory", "history", "info"})


def _actions(turn: Turn, action: Any, calls: Any) -> None:
    if isinstance(calls, list) and calls:
        for c in calls:
            fn = c.get("function") if isinstance(c, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                turn.actions.append(tool_action(fn["name"], fn.get("arguments") or "{}", c.get("id")))
        if turn.actions:
            return
    if isinstance(action, str) and action.strip():
        turn.actions.append(tool_action("bash", json.dumps({"command": action.strip()}, ensure_ascii=False)))


@dataclass(frozen=True)
class SweAgent(DocumentFormat):
    """SWE-agent ``*.traj`` -> steps (read-only)."""

    name: ClassVar[str] = "swe-agent"
    description: ClassVar[str] = "SWE-agent *.traj (trajectory, history, info; read-only)"

    def decode(self, obj: Any) -> Trajectory:
        if not isinstance(obj, dict) or not ("trajectory" in obj or "history" in obj):
            raise SchemaError(
                f"a SWE-agent .traj is an object with 'trajectory' or 'history', got {type_name(obj)}"
            )
        history = list_of(obj.get("history"))
        entries = list_of(obj.get("trajectory"))
        first = next(
            (i for i, m in enumerate(history) if isinstance(m, dict) and m.get("role") == "assistant"), None
        )
        task: list[Any] = history[: first if first is not None else len(history)]
        assistant = [m for m in history if isinstance(m, dict) and m.get("role") == "assistant"]
        turns: list[Turn] = []
        if entries:
            same = len(assistant) == len(entries)
            for j, e in enumerate(entries):
                if not isinstance(e, dict):
                    raise SchemaError(f"trajectory[{j}] must be an object, got {type_name(e)}")
                rest = {k: v for k, v in e.items() if k not in ("action", "observation", "thought")}
                turn = Turn({"entry": rest} if rest else None)
                if isinstance(e.get("thought"), str) and e["thought"].strip():
                    turn.texts.append(e["thought"])
                _actions(turn, e.get("action"), assistant[j].get("tool_calls") if same else None)
                obs = e.get("observation")
                if turn.actions and obs is not None:
                    turn.add_result(turn.actions[0].id or "", message_text(obs))
                turns.append(turn)
        else:
            for i in range(first if first is not None else len(history), len(history)):
                m = history[i]
                if not isinstance(m, dict):
                    raise SchemaError(f"history[{i}] must be an object, got {type_name(m)}")
                rest = {
                    k: v
                    for k, v in m.items()
                    if k not in ("role", "content", "thought", "action", "tool_calls")
                }
                if m.get("role") == "assistant":
                    turn = Turn({"message": rest} if rest else None)
                    given = m.get("thought")
                    thought = given if isinstance(given, str) else message_text(m.get("content"))
                    if thought.strip():
                        turn.texts.append(thought)
                    _actions(turn, m.get("action"), m.get("tool_calls"))
                    if turn.actions and isinstance(m.get("tool_calls"), list):
                        turn.meta["tool_calls"] = m["tool_calls"]
                    turns.append(turn)
                elif turns and turns[-1].actions and "results" not in turns[-1].meta:
                    ids = turns[-1].call_ids()
                    call_ids = m.get("tool_call_ids")
                    key = (
                        call_ids[0]
                        if isinstance(call_ids, list) and call_ids and call_ids[0] in ids
                        else (ids[0] if ids else "")
                    )
                    turns[-1].add_result(key, message_text(m.get("content")))
                    turns[-1].meta["results"] = [{k: v for k, v in m.items() if k != "content"}]
                elif turns:
                    turns[-1].meta.setdefault("after", []).append(m)
        if not turns:
            raise SchemaError(
                "empty step list: the .traj has no trajectory entries and no assistant messages"
            )
        steps = [t.step(i) for i, t in enumerate(turns)]
        info = obj_of(obj.get("info"))
        meta: dict[str, Any] = {"source": "swe-agent"}
        if info:
            meta["info"] = info
            if info.get("exit_status"):
                meta["exit_status"] = info["exit_status"]
        if entries and history:
            meta["history"] = history
        ex = extra_fields(obj, _KNOWN)
        if ex:
            meta["extra_fields"] = ex
        sub = info.get("submission")
        return Trajectory(stable_id("swe-agent", obj), task, steps, Outcome(answer=sub or None), meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
