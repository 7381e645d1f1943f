"""Chat message content as backends count it: plain text, or OpenAI content parts.

A message's ``content`` is a string or a list of parts (``{"type": "text", "text": ...}``,
``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``). Budgets and dry
runs need the prompt size of such a message without sending it: the text counts as its
characters (an upper bound on its tokens), an image as the tokens of a vision encoder with
14-pixel patches and no merging (an upper bound for the common VLMs; Qwen2-VL merges 2x2, so
it uses a quarter of that) or, for the dry-run estimate, Qwen2-VL's own count.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

from stepsieve.media import image_size, image_token_estimate

__all__ = ["conversation_bound", "conversation_text", "image_urls", "images_estimate"]

_UNKNOWN_IMAGE_BOUND = 16_384  # a remote URL (not a data URL): its size is not known here


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"type": "text", "text": content or ""}]
    return [p for p in content if isinstance(p, dict)]


def conversation_text(conversation: Sequence[dict[str, Any]]) -> str:
    """The text of every message, one per line (image parts left out)."""
    return "\n".join(
        "".join(str(p.get("text", "")) for p in _parts(m.get("content")) if p.get("type") == "text")
        for m in conversation
    )


def image_urls(conversation: Sequence[dict[str, Any]]) -> list[str]:
    """The URL of every ``image_url`` part, in order."""
    out = []
    for m in conversation:
        for p in _parts(m.get("content")):
            if p.get("type") == "image_url":
                iu = p.get("image_url")
                out.append(str(iu.get("url", "") if isinstance(iu, dict) else iu or ""))
    return out


def _dims(url: str) -> tuple[int, int] | None:
    if not url.startswith("data:"):
        return None
    head, _, data = url.partition(",")
    try:
        raw = base64.b64decode(data) if head.endswith(";base64") else data.encode()
        return image_size(raw)
    except Exception:  # noqa: BLE001 — an unreadable image gets the unknown-size bound
        return None


def _bound(url: str) -> int:
    d = _dims(url)
    return _UNKNOWN_IMAGE_BOUND if d is None else math.ceil(d[0] / 14) * math.ceil(d[1] / 14) + 16


def conversation_bound(conversation: Sequence[dict[str, Any]]) -> int:
    """An upper bound on the prompt tokens of a conversation: text characters plus each
    image's unmerged patch count."""
    return len(conversation_text(conversation)) + sum(_bound(u) for u in image_urls(conversation))


def images_estimate(conversation: Sequence[dict[str, Any]]) -> int:
    """The prompt tokens a Qwen2-VL-style model spends on the conversation's images."""
    total = 0
    for u in image_urls(conversation):
        d = _dims(u)
        total += _UNKNOWN_IMAGE_BOUND if d is None else image_token_estimate(*d)
    return total
