"""``openai-chat``: OpenAI chat conversations with tool calls (fine-tuning / agent logs).

    {"messages": [{"role": "system"|"user", "content": ...}, ...,
                  {"role": "assistant", "content": "...", "tool_calls": [
                      {"id": "c1", "type": "function",
                       "function": {"name": "add", "arguments": "{\\"a\\": 1}"}}]},
                  {"role": "tool", "tool_call_id": "c1", "content": "3"}, ...],
     "tools": [...], ...}

The messages before the first assistant turn are the task (a message list). Each assistant
turn is one step: with ``tool_calls`` it is an ``action`` whose text is the calls, one a line
as ``name(arguments)``, whose ``thought`` is the turn's content, and whose ``observation`` is
the content of the ``tool`` messages that answer it (joined by newlines when several);
without tool calls it is a ``reasoning`` step whose text is the content. The last assistant
turn without tool calls gives ``outcome.answer``. Exact call ids, argument strings, tool
message fields and any later user turns are kept in ``step.meta`` and written back; other
top-level keys (``tools``, ``id``, ...) go to ``meta["extra_fields"]``. Each call is also
an Action in ``step.actions``.

Writing a trajectory another importer made: its ``step.actions`` become real ``tool_calls``
(a computer-use action a call of ``computer``), with one ``tool`` message per call that has a
result (per-call results from ``meta["observations"]``), so the run reads as the same run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from stepsieve._errors import SchemaError
from stepsieve.formats._fields import (
    extra_fields,
    put_extra_fields,
    require,
    require_object,
    stable_id,
    type_name,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import Action, Outcome, Step, Trajectory

__all__ = ["OpenAIChat", "calls_from_actions"]

_KNOWN = frozenset({"messages"})


def _content_text(content: Any, where: str) -> str:
    """Text of a message content: a string, null, or a list of parts (text parts joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise SchemaError(f"{where}.content must be a string, a list of parts or null, got {type_name(content)}")


def _call_text(call: Any, where: str) -> str:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise SchemaError(f"{where} must be an object with a 'function'")
    fn = call["function"]
    name = fn.get("name")
    if not isinstance(name, str):
        raise SchemaError(f"{where}.function.name must be a string, got {type_name(name)}")
    args = fn.get("arguments", "")
    if not isinstance(args, str):
        raise SchemaError(f"{where}.function.arguments must be a JSON string, got {type_name(args)}")
    return f"{name}({args})"


@dataclass(frozen=True)
class OpenAIChat(RecordFormat):
    """Chat messages <-> action/reasoning steps (no options)."""

    name: ClassVar[str] = "openai-chat"
    description: ClassVar[str] = "OpenAI chat messages: assistant turns are steps, tool results their observations"
    nullable: ClassVar[frozenset[str]] = frozenset({"content"})

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        messages = require(obj, "messages", list)
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise SchemaError(f"messages[{i}] must be an object with a role")
        first = next((i for i, m in enumerate(messages) if m["role"] == "assistant"), None)
        if first is None:
            raise SchemaError("empty step list: no assistant message in 'messages'")
        task = messages[:first]
        steps: list[Step] = []
        answer: str | None = None
        for i in range(first, len(messages)):
            m = messages[i]
            where = f"messages[{i}]"
            if m["role"] == "assistant":
                steps.append(self._step(m, len(steps), where))
                answer = None if m.get("tool_calls") else _content_text(m.get("content"), where)
            elif m["role"] == "tool" and steps and steps[-1].kind == "action":
                self._attach_result(steps[-1], m, where)
            else:  # a later user/system turn or a stray tool message: kept, in place
                last = steps[-1]
                last.meta = last.meta if last.meta is not None else {}
                last.meta.setdefault("after", []).append(m)
        for s in steps:
            self._finish_observation(s)
            s.meta = s.meta or None
        meta: dict[str, Any] = {"source": "openai-chat"}
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        tid = obj.get("id")
        tid = str(tid) if isinstance(tid, (str, int)) and not isinstance(tid, bool) else stable_id("chat", obj)
        return Trajectory(tid, task, steps, Outcome(answer=answer), meta=meta)

    def _step(self, m: dict[str, Any], index: int, where: str) -> Step:
        calls = m.get("tool_calls")
        rest = {k: v for k, v in m.items() if k not in ("role", "content", "tool_calls")}
        meta: dict[str, Any] = {"message": rest} if rest else {}
        if calls:
            if not isinstance(calls, list):
                raise SchemaError(f"{where}.tool_calls must be a list, got {type_name(calls)}")
            text = "\n".join(_call_text(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(calls))
            content = m.get("content")
            thought = _content_text(content, where) or None
            if not (content is None or isinstance(content, str)) or (content == "" and thought is None):
                meta["content"] = content  # keep "" or a parts list exactly
            meta["tool_calls"] = calls
            meta["tool_results"] = []
            actions = [
                Action("tool", name=c["function"]["name"], arguments=c["function"].get("arguments", ""),
                       id=c.get("id") if isinstance(c.get("id"), str) else None)
                for c in calls
            ]
            return Step(index, text, "action", thought=thought, meta=meta, actions=actions)
        content = m.get("content")
        if not isinstance(content, str):
            meta["content"] = content
        return Step(index, _content_text(content, where), "reasoning", meta=meta)

    def _attach_result(self, step: Step, m: dict[str, Any], where: str) -> None:
        if not isinstance(m.get("content"), (str, type(None))):
            raise SchemaError(f"{where}.content of a tool result must be a string")
        call_id = m.get("tool_call_id")
        ids = [c.get("id") for c in step.meta["tool_calls"] if isinstance(c, dict)]  # type: ignore[index]
        if call_id is not None and call_id not in ids:  # never another call's observation
            raise SchemaError(
                f"{where}: tool result for call id {call_id!r}, which the assistant turn before it did not make "
                f"(its calls: {', '.join(map(repr, ids)) or 'none with an id'})"
            )
        step.meta["tool_results"].append(m)  # type: ignore[index]

    def _finish_observation(self, s: Step) -> None:
        if s.kind != "action":
            return
        results = s.meta["tool_results"]  # type: ignore[index]
        if len(results) == 1 and isinstance(results[0].get("content"), str):
            s.observation = results[0]["content"]
            results[0] = {k: v for k, v in results[0].items() if k != "content"}
        elif results:
            s.observation = "\n".join(r.get("content") or "" for r in results)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        messages: list[dict[str, Any]] = (
            list(t.task) if isinstance(t.task, list) else [{"role": "user", "content": t.task}]
        )
        # Step meta of another importer (its raw message fields, later turns) is not chat layout.
        native = t.meta.get("source") in (None, "openai-chat", "tau-bench")
        for s in t.steps:
            meta = s.meta or {}
            msg: dict[str, Any] = {"role": "assistant"}
            if s.kind == "action":
                msg["content"] = meta["content"] if "content" in meta and native else s.thought
                kept = meta.get("tool_calls") if native else None
                msg["tool_calls"] = kept or calls_from_actions(s) or _calls_from_text(s)
                if native:
                    msg |= meta.get("message", {})
                messages.append(msg)
                results = meta.get("tool_results") if native else None
                if results is None:
                    results = _results_for(s, msg["tool_calls"])
                if len(results) == 1 and "content" not in results[0]:
                    messages.append({"role": "tool", **results[0], "content": s.observation})
                else:
                    messages.extend({"role": "tool", **r} if "role" not in r else r for r in results)
            else:
                msg["content"] = meta["content"] if "content" in meta and native else s.text
                if native:
                    msg |= meta.get("message", {})
                messages.append(msg)
            after = meta.get("after", ())
            messages.extend(after if native else _chat_turns(after))
        return put_extra_fields({"messages": messages}, t)


def calls_from_actions(s: Step) -> list[dict[str, Any]]:
    """Real tool calls from the step's machine form (a computer-use action is a call of
    ``computer`` whose arguments are the action)."""
    calls = []
    for j, a in enumerate(s.actions):
        if a.type == "tool":
            name, args = a.name or "", a.arguments or ""
        else:
            fields = {k: v for k, v in msgspec.to_builtins(a).items() if k not in ("id", "name", "arguments")}
            name, args = "computer", json.dumps(fields, ensure_ascii=False)
        call_id = a.id or f"call_{s.index}_{j}"
        calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": args}})
    return calls


def _results_for(s: Step, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One ``tool`` message per call that has a result: the per-call observations an importer
    kept (``meta["observations"]``), else the step's observation answering the first call."""
    obs = (s.meta or {}).get("observations")
    if not isinstance(obs, list) or len(obs) != len(calls):
        obs = [s.observation] + [None] * (len(calls) - 1)
    pairs = zip(calls, obs, strict=True)
    return [{"tool_call_id": c.get("id"), "content": o} for c, o in pairs if o is not None]


def _chat_turns(items: Any) -> list[dict[str, Any]]:
    """Later user turns another importer kept, as chat messages (text only)."""
    out = []
    for m in items:
        if isinstance(m, dict) and m.get("role") in ("user", "system") and isinstance(m.get("content"), str):
            out.append({"role": m["role"], "content": m["content"]})
    return out


def _calls_from_text(s: Step) -> list[dict[str, Any]]:
    """Tool calls for an action step built elsewhere (no kept calls): ``name(args)`` lines."""
    calls = []
    for j, line in enumerate(s.text.splitlines() or [s.text]):
        name, _, args = line.partition("(")
        calls.append(
            {"id": f"call_{s.index}_{j}", "type": "function",
             "function": {"name": name.strip(), "arguments": args[:-1] if args.endswith(")") else args}}
        )
    return calls
