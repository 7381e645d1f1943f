"""A trajectory as chat messages for fine-tuning: assistant turns with a 0/1 ``weight``.

Shared by the ``openai-chat`` and ``trl-sft`` exports. The task opens the conversation (a
string becomes one ``user`` message; a message list is kept, any ``assistant`` message in it
marked ``weight: 0``: context, not a target). Then the steps:

- Each step's weight is 1 when its ``weight_label`` score is absent or at least 0.5, else 0
  (OpenAI accepts only 0 or 1).
- ``turns="merge"`` (default): consecutive steps with the same weight form one assistant
  message, their contents joined by ``sep``; a message ends where the weight changes, after
  a step with tool calls (their results follow), or after a text action's observation. So a
  solution the model writes in one go is one message with one end-of-turn, not one per step:
  trained on one message per step, a model learns to stop after every step.
  ``turns="step"``: one assistant message per step (the old layout; every step then ends a
  turn in the rendered conversation).
- An action step's machine form becomes real ``tool_calls``: its ``Step.actions`` (what every
  importer and the sampler fill; a computer-use action is a call of ``computer``), else an
  OpenAI-shaped ``meta["tool_calls"]`` / ``meta["tool_call"]`` (or the flat
  ``{"id", "name", "arguments"}`` of older records). Each call is answered by one ``tool``
  message: the per-call result kept by the importer (``meta["tool_results"]`` or
  ``meta["observations"]``), else the step's observation answers the first call and the others
  get an empty result. Call ids are kept, made up (``call_<step>_<j>``) where missing, and made
  unique within the conversation.
- An action without a machine form stays text; its observation follows as a ``user`` message.
"""

from __future__ import annotations

from typing import Any

import orjson

from stepsieve._errors import ConfigError
from stepsieve.formats.openai_chat import calls_from_actions
from stepsieve.trajectory import Step, Trajectory

__all__ = ["TURNS", "chat_messages", "parts_text", "step_weight", "tool_calls_of"]

TURNS = ("merge", "step")
_TASK_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def step_weight(s: Step, weight_label: str) -> int:
    """1 when the step is trained on (no weight, or weight >= 0.5), else 0."""
    lab = s.labels.get(weight_label)
    score = None if lab is None else lab.score
    return 1 if score is None or score >= 0.5 else 0


def _openai_call(c: Any, fallback_id: str) -> dict[str, Any] | None:
    """An OpenAI tool call from a nested ``{"function": {...}}`` or flat ``{"name", ...}`` dict."""
    if not isinstance(c, dict):
        return None
    fn: dict[str, Any] = c["function"] if isinstance(c.get("function"), dict) else c
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return None
    args = fn.get("arguments", "")
    if not isinstance(args, str):
        args = orjson.dumps(args).decode()
    cid = c.get("id")
    return {
        "id": cid if isinstance(cid, str) and cid else fallback_id,
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def tool_calls_of(s: Step) -> list[dict[str, Any]]:
    """The OpenAI ``tool_calls`` of an action step (empty when it has no machine form)."""
    if s.kind != "action":
        return []
    if s.actions:
        return calls_from_actions(s)
    meta = s.meta or {}
    raw = meta.get("tool_calls")
    if isinstance(raw, list):
        calls = [_openai_call(c, f"call_{s.index}_{j}") for j, c in enumerate(raw)]
    else:
        calls = [_openai_call(meta.get("tool_call"), f"call_{s.index}")] if "tool_call" in meta else []
    return [c for c in calls if c is not None] if all(c is not None for c in calls) else []


def _results(s: Step, n: int) -> list[str]:
    """One result text per call (see the module docstring)."""
    meta = s.meta or {}
    kept = meta.get("tool_results")
    if isinstance(kept, list) and len(kept) == n and all(isinstance(r, dict) for r in kept):
        if n == 1 and not isinstance(kept[0].get("content"), str):
            return [s.observation or ""]
        return [r["content"] if isinstance(r.get("content"), str) else "" for r in kept]
    obs = meta.get("observations")
    if isinstance(obs, list) and len(obs) == n:
        return [o if isinstance(o, str) else "" for o in obs]
    return [s.observation or ""] + [""] * (n - 1)


def _join(a: str | None, b: str | None, sep: str) -> str | None:
    if not a:
        return b or a
    if not b:
        return a
    return f"{a}{sep}{b}"


def parts_text(parts: Any) -> str:
    """The text of a content-part list (OpenAI/Anthropic ``text``, OTel ``content``), joined."""
    out = []
    for p in parts if isinstance(parts, list) else ():
        if isinstance(p, dict) and p.get("type", "text") == "text":
            v = p.get("text", p.get("content"))
            if isinstance(v, str):
                out.append(v)
    return "\n".join(out)


def _task_message(m: dict[str, Any]) -> dict[str, Any]:
    """A task message in OpenAI's shape: text content (parts joined), an assistant one weight 0."""
    msg = {k: m[k] for k in _TASK_KEYS if k in m}
    content = m.get("content")
    if not isinstance(content, str) and not (content is None and msg.get("tool_calls")):
        msg["content"] = parts_text(content if content is not None else m.get("parts"))
    if msg.get("role") == "assistant":
        msg["weight"] = 0
    return msg


def chat_messages(t: Trajectory, weight_label: str = "curate", turns: str = "merge",
                  sep: str = "\n") -> tuple[list[dict[str, Any]], int]:
    """``(messages, n_trained)``: the conversation and how many assistant messages have weight 1."""
    if turns not in TURNS:
        raise ConfigError(f"turns must be one of {', '.join(TURNS)}, got {turns!r}")
    msgs: list[dict[str, Any]]
    if isinstance(t.task, str):
        msgs = [{"role": "user", "content": t.task}]
    else:
        msgs = [_task_message(m) for m in t.task if isinstance(m, dict)]
    merge = turns == "merge"
    used_ids: set[str] = {c["id"] for m in msgs for c in m.get("tool_calls") or () if isinstance(c, dict)}
    cur: dict[str, Any] | None = None  # the assistant message later steps may extend
    for s in t.steps:
        w = step_weight(s, weight_label)
        calls = tool_calls_of(s)
        if calls:
            body = s.thought or None
        else:
            body = f"{s.thought}{sep}{s.text}" if s.thought else s.text
        if merge and cur is not None and cur["weight"] == w:
            cur["content"] = _join(cur["content"], body, sep)
        else:
            cur = {"role": "assistant", "content": body, "weight": w}
            msgs.append(cur)
        if calls:
            for c in calls:
                cid, k = c["id"], 1
                while c["id"] in used_ids:
                    c["id"] = f"{cid}_{k}"
                    k += 1
                used_ids.add(c["id"])
            cur["tool_calls"] = calls
            cur["weight"] = cur.pop("weight")  # keep the key order role, content, tool_calls, weight
            for c, r in zip(calls, _results(s, len(calls))):
                msgs.append({"role": "tool", "tool_call_id": c["id"], "content": r})
            cur = None
        elif s.observation is not None:
            msgs.append({"role": "user", "content": s.observation})
            cur = None
    for m in msgs:
        if m["role"] == "assistant" and m.get("content") is None and not m.get("tool_calls"):
            m["content"] = ""
    trained = sum(1 for m in msgs if m["role"] == "assistant" and m.get("weight") == 1)
    return msgs, trained
