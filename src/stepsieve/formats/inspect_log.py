"""``inspect``: Inspect AI evaluation logs (``.eval`` zip or ``.json``), one trajectory per sample.

Read through inspect_ai's own ``read_eval_log`` (so every log version it reads, this reads),
an optional extra: ``pip install 'stepsieve[inspect]'``. Each sample (``EvalSample``) is
decoded from its JSON form:

    {"id": 1, "epoch": 1, "input": ..., "target": ..., "messages": [
        {"role": "system" | "user", "content": ...},
        {"role": "assistant", "content": "..." | [{"type": "text" | "reasoning", ...}],
         "tool_calls": [{"id", "function", "arguments": {...}}]},
        {"role": "tool", "tool_call_id", "function", "content", "error": {...} | null}, ...],
     "output": {...}, "scores": {"match": {"value": "C", "answer": "Yes", ...}}, "metadata": ...}

Mapping: the messages before the first assistant message are the ``task``; each assistant
message is a step (tool calls -> Actions with ``arguments`` dumped as JSON, text its
``thought``; without calls a ``reasoning`` step); ``tool`` messages are paired by
``tool_call_id`` (a ``error`` sets ``meta["is_error"]``); later user messages go to the previous
step's ``meta["after"]``. The first score gives the ``outcome``: value ``C``/``I`` (Inspect's
CORRECT/INCORRECT) -> ``correct``, a number -> ``reward``, its ``answer`` -> ``answer``; all scores,
the target and the sample's other fields are kept in ``meta``, with the eval's task and model.
The id is ``<eval_id>/<sample id>/<epoch>``.

Read-only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import ConfigError, DataError, SchemaError
from stepsieve.formats._agent import Turn, tool_action
from stepsieve.formats._fields import require_object, stable_id
from stepsieve.formats._files import existing_path
from stepsieve.formats._protocol import RecordFormat
from stepsieve.formats.anthropic import read_only
from stepsieve.formats.mini_swe_agent import message_text
from stepsieve.trajectory import Outcome, SourceRecord, Trajectory

__all__ = ["InspectLog"]

INSTALL = (
    "the inspect format reads logs with inspect_ai, which is not installed: pip install 'stepsieve[inspect]'"
)


def _assistant_parts(turn: Turn, content: Any) -> None:
    if isinstance(content, str):
        turn.texts.append(content)
        return
    for p in content or []:
        if isinstance(p, dict) and p.get("type") == "reasoning":
            turn.thinking.append(str(p.get("reasoning", "")))
        elif isinstance(p, dict) and p.get("type") == "text":
            turn.texts.append(str(p.get("text", "")))


@dataclass(frozen=True)
class InspectLog(RecordFormat):
    """Inspect AI ``.eval`` / ``.json`` logs -> one trajectory per sample (read-only)."""

    name: ClassVar[str] = "inspect"
    description: ClassVar[str] = (
        "Inspect AI eval logs (.eval/.json, via inspect_ai; pip install 'stepsieve[inspect]')"
    )

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        p = existing_path(path)
        try:
            from inspect_ai.log import read_eval_log
        except ImportError:
            raise ConfigError(INSTALL) from None
        try:
            log = read_eval_log(p)
        except Exception as e:  # noqa: BLE001 - JSON, zip, pydantic, OS errors: all mean unreadable
            raise DataError(f"not a readable Inspect log: {type(e).__name__}: {e}", path=p) from None
        header = {
            "eval_id": log.eval.eval_id,
            "task": log.eval.task,
            "model": log.eval.model,
            "status": log.status,
        }
        progress[0] = os.path.getsize(p)
        for i, sample in enumerate(log.samples or []):
            yield SourceRecord(1, {"eval": header, "sample": sample.model_dump(mode="json")}, item=i)

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj, "an Inspect sample")
        sample = obj.get("sample", obj)
        header = obj.get("eval") if "sample" in obj else None
        messages = sample.get("messages")
        if not isinstance(messages, list):
            raise SchemaError("missing required field 'messages' of the sample")
        task: list[Any] = []
        turns: list[Turn] = []
        owner: dict[str, Turn] = {}
        turn: Turn | None
        for i, m in enumerate(messages):
            if not isinstance(m, dict):
                raise SchemaError(f"messages[{i}] must be an object")
            role = m.get("role")
            rest = {k: v for k, v in m.items() if k not in ("role", "content", "tool_calls")}
            if role == "assistant":
                turn = Turn({"message": rest} if rest else None)
                _assistant_parts(turn, m.get("content"))
                for c in m.get("tool_calls") or []:
                    call_id = c.get("id")
                    turn.actions.append(tool_action(str(c.get("function")), c.get("arguments"), call_id))
                    if isinstance(call_id, str):
                        owner[call_id] = turn
                turns.append(turn)
            elif role == "tool":
                call_id = m.get("tool_call_id")
                turn = owner.get(call_id) if isinstance(call_id, str) else None
                if turn is None:
                    raise SchemaError(
                        f"messages[{i}]: tool result for call id {call_id!r}, which no assistant message made"
                    )
                turn.add_result(call_id, message_text(m.get("content")), m.get("error") is not None)  # type: ignore[arg-type]
                turn.meta.setdefault("results", []).append({k: v for k, v in m.items() if k != "content"})
            elif turns:
                turns[-1].meta.setdefault("after", []).append(m)
            else:
                task.append(m)
        if not turns:
            raise SchemaError("empty step list: the sample has no assistant message")
        steps = [t.step(i) for i, t in enumerate(turns)]
        meta: dict[str, Any] = {"source": "inspect"}
        if header:
            meta["eval"] = header
        meta["sample"] = {k: v for k, v in sample.items() if k not in ("messages", "events", "attachments")}
        outcome = Outcome(answer=steps[-1].text if steps[-1].kind == "reasoning" else None)
        scores = sample.get("scores") or {}
        first = next(iter(scores.values()), None) if isinstance(scores, dict) else None
        if isinstance(first, dict):
            v = first.get("value")
            if v in ("C", "I"):
                outcome.correct = v == "C"
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                outcome.reward = float(v)
            if isinstance(first.get("answer"), str):
                outcome.answer = first["answer"]
        eval_id = header.get("eval_id") if header else None
        sid = sample.get("id")
        tid = (
            f"{eval_id}/{sid}/{sample.get('epoch', 1)}"
            if eval_id and sid is not None
            else stable_id("inspect", sample)
        )
        return Trajectory(tid, task, steps, outcome, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)
