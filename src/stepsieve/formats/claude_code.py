"""``claude-code``: Claude Code session transcripts (``~/.claude/projects/<project>/<session>.jsonl``).

One event a line; a whole FILE is one trajectory (a folder: each ``*.jsonl`` under it, one
trajectory each, subagent files included). Events:

    {"type": "user", "message": {"role": "user", "content": "fix the build"}, "uuid": ...,
     "parentUuid": ..., "sessionId": ..., "isSidechain": false, "cwd": ..., "timestamp": ...}
    {"type": "assistant", "message": {"id": "msg_1", "model": ..., "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]}, ...}
    {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "toolu_1",
        "content": "...", "is_error": false}]}, "toolUseResult": ...}
    {"type": "system" | "summary" | "progress" | "file-history-snapshot" | "queue-operation", ...}

Mapping:

- the user messages before the first assistant event are the ``task`` (a message list);
- Claude Code writes each content block of one API message as its own event, all with the
  same ``message.id``: those events are joined into one step, read as an Anthropic
  assistant message (see ``anthropic``): ``tool_use`` blocks are its Actions (``input``
  dumped as JSON ``arguments``), ``thinking`` and ``text`` its ``thought``; without tool use it
  is a ``reasoning`` step;
- ``tool_result`` blocks are paired with their ``tool_use`` by id (``is_error`` ->
  ``meta["is_error"]``, images summarised in ``meta["images"]``); a result whose id matches
  no call is an error naming file, line and id (quarantined whole with ``--on-error skip``);
- sidechain (subagent) events stay in the same trajectory, their steps marked
  ``meta["sidechain"] = True``; later user text is kept in the previous step's ``meta["after"]``;
- each step keeps its events' envelopes (uuid, parentUuid, timestamp, usage... everything but
  the content) in ``meta["events"]``, and its results' envelopes (``toolUseResult``...) in
  ``meta["result_events"]``; ``system``, ``progress``, ``file-history-snapshot``,
  ``queue-operation`` and ``summary`` (compaction) events go, unchanged, to trajectory
  ``meta["other_events"]`` (summaries also to ``meta["summaries"]``); an event type not
  listed here goes to ``meta["unknown_events"]``;
- a malformed line (a session cut off mid-write) is an error naming its line; with
  ``--on-error skip`` that line alone is quarantined and the rest of the session is read;
- ``id`` is the session id; the last reasoning step's text is ``outcome.answer``.

Read-only: convert to ``stepsieve`` or ``openai-chat`` to write.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import UNKNOWN_EVENTS, Turn
from stepsieve.formats._fields import stable_id, type_name
from stepsieve.formats._files import existing_path
from stepsieve.formats._protocol import RecordFormat
from stepsieve.formats.anthropic import AnthropicSteps, read_only
from stepsieve.trajectory import Outcome, SourceRecord, Trajectory, iter_source

__all__ = ["ClaudeCode"]

_OTHER = frozenset({"system", "summary", "progress", "file-history-snapshot", "queue-operation"})
_SESSION_KEYS = ("sessionId", "cwd", "version", "gitBranch", "userType")


def _envelope(e: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in e.items() if k != "message"}
    msg = e.get("message")
    if isinstance(msg, dict):
        out["message"] = {k: v for k, v in msg.items() if k != "content"}
    return out


@dataclass(frozen=True)
class ClaudeCode(RecordFormat):
    """Claude Code session JSONL: one file (or each file of a folder) -> one trajectory."""

    name: ClassVar[str] = "claude-code"
    description: ClassVar[str] = (
        "Claude Code session transcripts (~/.claude/projects/*/*.jsonl), a file per trajectory"
    )

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        p = existing_path(path, folder=True)
        if not os.path.isdir(p):
            yield from self._session(p, progress)
            return
        done = 0
        for f in sorted(Path(p).rglob("*.jsonl")):
            sub = [0]
            yield from self._session(str(f), sub)
            done += sub[0]
            progress[0] = done

    def _session(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        events: list[Any] = []
        lines: list[int] = []
        for rec in iter_source(path, "jsonl", progress):
            if rec.error is not None:
                yield rec  # that line alone is rejected (or raises)
                continue
            events.append(rec.value)
            lines.append(rec.line)
        if events:
            yield SourceRecord(lines[0], {"file": os.path.basename(path), "lines": lines, "events": events})

    def decode(self, obj: Any) -> Trajectory:
        if isinstance(obj, list):
            obj = {"events": obj}
        if not isinstance(obj, dict) or not isinstance(obj.get("events"), list):
            raise SchemaError(f"a Claude Code session is a list of events, got {type_name(obj)}")
        events: list[Any] = obj["events"]
        lines: list[int] = obj.get("lines") or list(range(1, len(events) + 1))
        b = AnthropicSteps()
        task: list[Any] = []
        meta: dict[str, Any] = {"source": "claude-code"}
        if obj.get("file"):
            meta["file"] = obj["file"]
        other: list[Any] = []
        sessions: dict[str, None] = {}
        by_message: dict[str, Turn] = {}
        for e, line in zip(events, lines, strict=True):
            where = f"line {line}"
            if not isinstance(e, dict):
                raise SchemaError(f"an event must be a JSON object, got {type_name(e)}", line=line)
            kind = e.get("type")
            if kind is not None and not isinstance(kind, str):  # found by tests/reliability (hypothesis)
                raise SchemaError(f"an event's type must be a string, got {type_name(kind)}", line=line)
            for k in _SESSION_KEYS:
                if k in e and k not in meta:
                    meta[k] = e[k]
            if isinstance(e.get("sessionId"), str):
                sessions.setdefault(e["sessionId"], None)
            msg = e.get("message") if isinstance(e.get("message"), dict) else None
            if kind == "assistant" and msg is not None:
                mid = msg.get("id")
                turn = by_message.get(mid) if isinstance(mid, str) else None
                if turn is None or turn is not b.turns[-1]:
                    turn = b.new_turn({"sidechain": True} if e.get("isSidechain") else None)
                    if isinstance(mid, str):
                        by_message[mid] = turn
                turn.meta.setdefault("events", []).append(_envelope(e))
                b.assistant(turn, msg.get("content"), where)
            elif kind == "user" and msg is not None:
                content = msg.get("content")
                rest = b.results(content, where, line)
                if b.turns and len(rest) != (len(content) if isinstance(content, list) else 1):
                    b.turns[-1].meta.setdefault("result_events", []).append(_envelope(e))
                if not rest:
                    continue
                kept = {
                    **_envelope(e),
                    "message": {**msg, "content": rest if isinstance(content, list) else content},
                }
                if not b.turns:
                    task.append({"role": "user", "content": content})
                    meta.setdefault("task_events", []).append(_envelope(e))
                else:
                    b.turns[-1].meta.setdefault("after", []).append(kept)
            elif kind in _OTHER:
                other.append(e)
                if kind == "summary":
                    meta.setdefault("summaries", []).append(e.get("summary"))
            else:
                b.unknown.append({"where": where, "event": e})
        if not b.turns:
            raise SchemaError("empty step list: the session has no assistant message")
        steps = b.steps()
        if len(sessions) > 1:
            meta["session_ids"] = list(sessions)
        if other:
            meta["other_events"] = other
        if b.unknown:
            meta[UNKNOWN_EVENTS] = b.unknown
        answer = steps[-1].text if steps[-1].kind == "reasoning" else None
        tid = next(iter(sessions), None) or stable_id("claude-code", events)
        return Trajectory(tid, task, steps, Outcome(answer=answer), meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
