"""A screen-operating agent's trajectory as a multimodal conversation, for VLM trainers.

Shared by the ``trl-vision``, ``llamafactory-vision`` and ``openai-vision`` exports (and the
text ``llamafactory`` export, which is the same conversation without pictures). A message is
``{"role", "parts", "weight"?}``: ``parts`` holds text (``str``) and screenshots (``Shot``).

- The task opens the conversation (a string: one ``user`` message; a message list: its
  ``system`` / ``user`` texts, an ``assistant`` message in it weight 0).
- Before an action, the screen the agent saw (the step's ``before`` images) is shown in a
  ``user`` message (added to the task message or the previous observation when one is open),
  unless it is the picture shown last: a ``before`` screenshot usually repeats the previous
  step's ``after``.
- The step itself is an ``assistant`` message: its ``thought`` (when present), ``sep``, then
  the action as the agent wrote it (``Step.text``, e.g. ``click(54, 24)``). VLM GUI agents
  emit actions as text; a screenshot cannot travel in a tool result in TRL (its
  ``prepare_multimodal_messages`` skips ``tool`` messages) nor in OpenAI's rules (images only
  in user messages), so the observation is a ``user`` turn.
- After the action, its observation: the ``after`` screenshots (images without a role count
  as after; shown even when the screen did not change: a no-op is still answered) and,
  when the step has no screenshot at all or ``obs_text`` is set, the observation text.
- Weights and turns follow the text chat exports (``_chat``): a step's weight is its
  ``weight_label`` score cut at 0.5; with ``turns="merge"`` consecutive same-weight steps with
  no observation between them form one assistant message.
- An observation after the last assistant message is dropped (it trains nothing and only
  lengthens the example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.curate._chat import TURNS, parts_text, step_weight
from stepsieve.trajectory import MediaRef, Trajectory

__all__ = ["Shot", "vision_messages"]


@dataclass(frozen=True, slots=True)
class Shot:
    """One screenshot in a message: the record's reference and the step it belongs to."""

    ref: MediaRef
    step: int


def _text(content: Any) -> str:
    return content if isinstance(content, str) else parts_text(content)


def _task(t: Trajectory) -> list[dict[str, Any]]:
    if isinstance(t.task, str):
        return [{"role": "user", "parts": [t.task]}]
    msgs: list[dict[str, Any]] = []
    for m in t.task:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        text = _text(m.get("content") if m.get("content") is not None else m.get("parts"))
        if role == "assistant":
            msgs.append({"role": "assistant", "parts": [text], "weight": 0})
        elif role == "system" and not msgs:
            msgs.append({"role": "system", "parts": [text]})
        elif msgs and msgs[-1]["role"] == "user":  # one user turn (a later system text joins it)
            msgs[-1]["parts"].append(text)
        else:
            msgs.append({"role": "user", "parts": [text]})
    return msgs


def vision_messages(t: Trajectory, weight_label: str = "curate", turns: str = "merge", sep: str = "\n",
                    obs_text: bool = False) -> tuple[list[dict[str, Any]], int]:
    """``(messages, n_trained)``: the multimodal conversation (module docstring) and how many
    assistant messages have weight 1."""
    if turns not in TURNS:
        raise ConfigError(f"turns must be one of {', '.join(TURNS)}, got {turns!r}")
    msgs = _task(t)
    shown: str | None = None  # sha256 of the picture shown last
    cur: dict[str, Any] | None = None  # the assistant message later steps may extend

    def user() -> list[Any]:
        if msgs and msgs[-1]["role"] == "user":
            parts: list[Any] = msgs[-1]["parts"]
            return parts
        msgs.append({"role": "user", "parts": []})
        return msgs[-1]["parts"]

    def fresh(refs: list[MediaRef], step: int, again: bool) -> list[Shot]:
        """Shots of ``refs``; a ``before`` picture equal to the one shown last is not repeated
        (``again`` False), an observation is shown even when the screen did not change."""
        nonlocal shown
        out = []
        for r in refs:
            if again or r.sha256 != shown:
                out.append(Shot(r, step))
                shown = r.sha256
        return out

    for s in t.steps:
        before = fresh([r for r in s.images if r.role == "before"], s.index, again=False)
        if before:
            user().extend(before)
            cur = None
        w = step_weight(s, weight_label)
        body = f"{s.thought}{sep}{s.text}" if s.thought else s.text
        if turns == "merge" and cur is not None and cur["weight"] == w:
            cur["parts"][0] = f"{cur['parts'][0]}{sep}{body}"
        else:
            cur = {"role": "assistant", "parts": [body], "weight": w}
            msgs.append(cur)
        after = fresh([r for r in s.images if r.role != "before"], s.index, again=True)
        text = s.observation if s.observation is not None and (obs_text or not s.images) else None
        if after or text is not None:
            msgs.append({"role": "user", "parts": [*after, *([text] if text is not None else [])]})
            cur = None
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=len(msgs) - 1)
    del msgs[last + 1:]
    trained = sum(1 for m in msgs if m["role"] == "assistant" and m.get("weight") == 1)
    return msgs, trained
