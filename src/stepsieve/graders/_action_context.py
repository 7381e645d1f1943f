"""One agent action with its context, rendered into a prompt a (vision-)language model reads.

Shared by the per-action judge and reasoning augmentation (``stepsieve augment``): both show
a model the task, the earlier steps, the action and what it returned, and for GUI agents the
screen before and after it. A template is text with placeholders ``{{task}}``,
``{{history}}``, ``{{index}}``, ``{{action}}``, ``{{observation}}`` and the image slots
``{{screen_before}}`` / ``{{screen_after}}``. Rendered for a chat server that accepts images,
an image slot becomes an ``image_url`` part (a downscaled data URL built now from the media
store, see ``stepsieve.media.encode_for_model``); otherwise it becomes a short note
("(no screenshot)", or "(screenshot not shown)" when images are off), so text-only agents get
the same rubric.

Which screenshots: ``before`` is the step's own image with role ``before``, else the last
image of the step before it (what the agent saw when it acted); ``after`` is the step's own
image with role ``after`` (or without a role). At most ``max_images`` are sent per request,
``after`` dropped first when only one fits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import msgspec

from stepsieve._errors import ConfigError
from stepsieve.media import MediaResolver, encode_for_model
from stepsieve.trajectory import MediaRef, Step, Trajectory

__all__ = ["ImageOptions", "RenderedPrompt", "fill", "render_action", "screens", "task_text"]

_SLOTS = ("{{screen_before}}", "{{screen_after}}")
_OBS_KEEP = 1500  # characters of an observation shown (long tool outputs are cut, and say so)


@dataclass(frozen=True)
class ImageOptions:
    """How screenshots go into a request."""

    max_images: int = 2  # per request; 0 = text only
    max_side: int = 1024  # longer side in pixels after downscaling
    max_bytes: int = 1_500_000  # encoded size cap per image (PNG, else JPEG 85; else left out)


@dataclass
class RenderedPrompt:
    """A prompt as text (completion backends) and as chat content parts (chat backends)."""

    text: str  # the prompt with image slots as notes; what a text-only model reads
    parts: list[dict[str, Any]] = field(default_factory=list)  # chat content with image parts
    images: int = 0  # images in ``parts``
    images_left_out: int = 0  # images over max_images or max_bytes
    image_pixels: list[tuple[int, int]] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Hash of what is sent: the text and the image URLs (their content), not a repr."""
        h = hashlib.sha256(self.text.encode())
        for p in self.parts:
            if p.get("type") == "image_url":
                h.update(p["image_url"]["url"].encode())
        return h.hexdigest()

    def content(self) -> str | list[dict[str, Any]]:
        """The chat message content: a string when no image is in it."""
        return self.parts if self.images else self.text


def task_text(t: Trajectory) -> str:
    if isinstance(t.task, str):
        return t.task
    return "\n".join(f"[{m.get('role', '?')}] {m.get('content') or ''}" for m in t.task)


def fill(template: str, **values: str) -> str:
    for k, v in values.items():
        template = template.replace("{{" + k + "}}", v)
    return template


def _obs(step: Step) -> str:
    o = step.observation
    if o is None:
        return "(none)"
    return o if len(o) <= _OBS_KEEP else o[:_OBS_KEEP] + f"… [{len(o) - _OBS_KEEP} more characters]"


def _action(step: Step) -> str:
    """The action's text, then its machine form (tool call, or click x/y...) when it has one."""
    if not step.actions:
        return step.text
    forms = "\n".join(json.dumps(msgspec.to_builtins(a), sort_keys=True) for a in step.actions)
    return f"{step.text}\n{forms}"


def screens(t: Trajectory, i: int) -> tuple[MediaRef | None, MediaRef | None]:
    """(before, after) screenshots of step i (see module doc)."""
    step = t.steps[i]
    before = next((m for m in step.images if m.role == "before"), None)
    if before is None and i > 0 and t.steps[i - 1].images:
        prev = [m for m in t.steps[i - 1].images if m.role != "before"] or t.steps[i - 1].images
        before = prev[-1]
    after = next((m for m in reversed(step.images) if m.role != "before"), None)
    return before, after


def _history(t: Trajectory, i: int, keep: int) -> str:
    first = max(0, i - keep)
    lines = [f"({first} earlier steps not shown)"] if first else []
    for k in range(first, i):
        s = t.steps[k]
        lines.append(f"<step_{k}>\n{s.text}\n</step_{k}>")
        if s.kind == "action" and s.observation is not None:
            lines.append(f"<result_{k}>\n{_obs(s)}\n</result_{k}>")
    return "\n".join(lines) or "(none)"


def render_action(
    template: str,
    t: Trajectory,
    i: int,
    *,
    history: int,
    images: ImageOptions,
    resolver: MediaResolver | None,
    send_images: bool,
    where: str = "",
) -> RenderedPrompt:
    """Step ``i`` of ``t`` in ``template``; images read through ``resolver`` when sent."""
    step = t.steps[i]
    text = fill(
        template, task=task_text(t), history=_history(t, i, history), index=str(i),
        action=_action(step), observation=_obs(step),
    )
    before, after = screens(t, i)
    refs = {"{{screen_before}}": before, "{{screen_after}}": after}
    present = [slot for slot in _SLOTS if refs[slot] is not None and slot in text]
    chosen = set(present[: images.max_images]) if send_images else set()
    out = RenderedPrompt(text="", images_left_out=len(present) - len(chosen) if send_images else 0)
    parts: list[dict[str, Any]] = []
    plain: list[str] = []
    rest = text
    while hits := [(rest.find(s), s) for s in _SLOTS if s in rest]:
        pos, slot = min(hits)
        plain.append(rest[:pos])
        parts.append({"type": "text", "text": rest[:pos]})
        rest = rest[pos + len(slot):]
        ref = refs[slot]
        note = "(no screenshot)" if ref is None else "(screenshot not shown)"
        if ref is not None and slot in chosen:
            if resolver is None:
                raise ConfigError("screenshots need the record file's folder to be read (GradeContext.source)")
            img = encode_for_model(resolver.read(ref, where), max_side=images.max_side, max_bytes=images.max_bytes)
            if img is None:
                out.images_left_out += 1
                note = f"(screenshot left out: over {images.max_bytes} bytes)"
            else:
                parts.append({"type": "image_url", "image_url": {"url": img.url}})
                out.images += 1
                out.image_pixels.append((img.width, img.height))
                note = "(screenshot attached)"
                chosen.discard(slot)  # a slot used twice sends its image once
        if note != "(screenshot attached)":  # an attached image stands in the parts itself
            parts.append({"type": "text", "text": note})
        plain.append(note)
    plain.append(rest)
    parts.append({"type": "text", "text": rest})
    out.text = "".join(plain)
    out.parts = _merge_text(parts)
    return out


def _merge_text(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if p["type"] == "text" and not p["text"]:
            continue
        if p["type"] == "text" and out and out[-1]["type"] == "text":
            out[-1] = {"type": "text", "text": out[-1]["text"] + p["text"]}
        else:
            out.append(p)
    return out
