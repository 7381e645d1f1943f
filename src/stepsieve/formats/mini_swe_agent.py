"""``mini-swe-agent``: mini-swe-agent trajectories (``*.traj.json``).

Current layout (``DefaultAgent.serialize``), and the legacy bare message list:

    {"info": {"exit_status": "Submitted", "submission": "diff --git ...", "model_stats": {...},
              "config": {...}, "mini_version": "..."},
     "messages": [{"role": "system", ...}, {"role": "user", "content": "Please solve ..."},
                  {"role": "assistant", "content": "THOUGHT ...\\n```mswea_bash_command\\nls\\n```",
                   "extra": {"actions": [{"command": "ls"}], ...}},
                  {"role": "user", "content": "<returncode>0</returncode>\\n<output>...",
                   "extra": {"returncode": 0, "raw_output": "...", ...}},
                  ...,
                  {"role": "exit", "content": "...", "extra": {"exit_status": ..., "submission": ...}}],
     "trajectory_format": "mini-swe-agent-1.1"}

Mapping: the messages before the first assistant message are the ``task``. Each assistant
message is a step; its commands (``extra.actions``, else its ``tool_calls`` with a ``command``
argument, else the `````bash`` / `````mswea_bash_command`` blocks of its text) are Actions
``Action("tool", name="bash", arguments='{"command": ...}')``, its text without the block
is the ``thought``. The messages that follow it (a user message, or ``tool`` messages in
tool-call mode) are its ``observation``; ``meta["returncode"]`` comes from ``extra.returncode``
or the ``<returncode>`` tag, and a non-zero one sets ``meta["is_error"]``. An assistant
message with no command (a format error) is a ``reasoning`` step, the feedback kept in its
``meta["after"]``. ``info.exit_status`` and the ``exit`` message go to ``meta``;
``info.submission`` (or the exit message's; in the legacy layout, the output of the final
``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` command) is ``outcome.answer``. Every message's other
fields are kept in ``step.meta``; other top-level keys in ``meta["extra_fields"]``.

Read-only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import Turn, obj_of, tool_action
from stepsieve.formats._fields import extra_fields, stable_id, type_name
from stepsieve.formats._files import DocumentFormat
from stepsieve.formats.anthropic import read_only
from stepsieve.trajectory import Outcome, Trajectory

__all__ = ["MiniSweAgent", "message_text"]

_BLOCK = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n```", re.DOTALL)
_RETURNCODE = re.compile(r"<returncode>\s*(-?\d+)\s*</returncode>")
_KNOWN = frozenset({"info", "messages", "trajectory_format"})
_SUBMIT = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def message_text(content: Any) -> str:
    """A chat message content as text (a string, or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return str(content)


def _commands(m: dict[str, Any], text: str) -> list[tuple[str, str | None]]:
    extra = obj_of(m.get("extra"))
    acts = extra.get("actions")
    if isinstance(acts, list) and acts:
        return [(str(a.get("command", "")), a.get("tool_call_id")) for a in acts if isinstance(a, dict)]
    calls = m.get("tool_calls")
    if isinstance(calls, list) and calls:
        out = []
        for c in calls:
            fn = c.get("function", {}) if isinstance(c, dict) else {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            out.append((str(args.get("command", "")) if isinstance(args, dict) else "", c.get("id")))
        return out
    return [(cmd.strip(), None) for cmd in _BLOCK.findall(text)]


@dataclass(frozen=True)
class MiniSweAgent(DocumentFormat):
    """mini-swe-agent ``*.traj.json`` (current and legacy layouts) -> steps (read-only)."""

    name: ClassVar[str] = "mini-swe-agent"
    description: ClassVar[str] = (
        "mini-swe-agent *.traj.json (info + messages, or a bare message list; read-only)"
    )

    def decode(self, obj: Any) -> Trajectory:
        if isinstance(obj, list):
            obj = {"messages": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list):
            raise SchemaError(f"a mini-swe-agent trajectory has a 'messages' list, got {type_name(obj)}")
        messages: list[Any] = obj["messages"]
        info = obj_of(obj.get("info"))
        task: list[Any] = []
        turns: list[Turn] = []
        meta: dict[str, Any] = {"source": "mini-swe-agent"}
        exit_extra: dict[str, Any] = {}
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise SchemaError(f"messages[{i}] must be an object with a role")
            role = m["role"]
            rest = {k: v for k, v in m.items() if k not in ("role", "content")}
            if role == "assistant":
                text = message_text(m.get("content"))
                turn = Turn({"message": rest} if rest else None)
                cmds = _commands(m, text)
                for cmd, call_id in cmds:
                    turn.actions.append(
                        tool_action("bash", json.dumps({"command": cmd}, ensure_ascii=False), call_id)
                    )
                if cmds:
                    thought = _BLOCK.sub("", text).strip()
                    if thought:
                        turn.texts.append(thought)
                else:
                    turn.texts.append(text)
                turns.append(turn)
            elif role == "exit":
                meta["exit_message"] = m
                exit_extra = obj_of(m.get("extra"))
            elif not turns:
                task.append(m)
            elif turns[-1].actions and "observed" not in turns[-1].meta:
                self._observe(turns[-1], m, role)
            else:
                turns[-1].meta.setdefault("after", []).append(m)
        if not turns:
            raise SchemaError("empty step list: no assistant message in 'messages'")
        steps = [t.step(i) for i, t in enumerate(turns)]
        for s in steps:
            if s.meta is not None:
                s.meta.pop("observed", None)
                s.meta = s.meta or None
        if info:
            meta["info"] = info
        exit_status = info.get("exit_status") or exit_extra.get("exit_status")
        if exit_status:
            meta["exit_status"] = exit_status
        submission = info.get("submission") or exit_extra.get("submission")
        last = steps[-1]
        if not submission and last.actions and _SUBMIT in (last.actions[-1].arguments or ""):
            submission = last.observation  # the legacy layout: the submit command's output is the submission
            meta["submitted"] = True
        if obj.get("trajectory_format"):
            meta["trajectory_format"] = obj["trajectory_format"]
        ex = extra_fields(obj, _KNOWN)
        if ex:
            meta["extra_fields"] = ex
        return Trajectory(
            stable_id("mini-swe-agent", obj), task, steps, Outcome(answer=submission or None), meta=meta
        )

    def _observe(self, turn: Turn, m: dict[str, Any], role: str) -> None:
        """A user (or tool) message after an action step: its observation."""
        text = message_text(m.get("content"))
        extra = obj_of(m.get("extra"))
        rc = extra.get("returncode")
        if not isinstance(rc, int):
            found = _RETURNCODE.search(text)
            rc = int(found.group(1)) if found else None
        call_id = m.get("tool_call_id") if role == "tool" else None
        ids = turn.call_ids()
        key = call_id if isinstance(call_id, str) and call_id in ids else (ids[0] if ids else "")
        turn.add_result(key, text, rc not in (None, 0) if rc is not None else None)
        if rc is not None:
            turn.meta["returncode"] = rc
        rest = {k: v for k, v in m.items() if k != "content"}
        turn.meta.setdefault("results", []).append(rest)
        if role != "tool" or len(turn.meta["results"]) >= len(turn.actions):
            turn.meta["observed"] = True

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
