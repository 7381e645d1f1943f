"""Images as a model receives them: downscaled, size-capped ``data:`` URLs built at request time.

Why at request time: a record keeps its screenshots as files (``MediaRef``); a judge or an
augmentation model needs them inline in the request (OpenAI ``image_url`` parts), at a size
the model and the budget accept. Nothing here is ever written back into a record.

:func:`encode_for_model` downscales an image so its longer side is at most ``max_side``
pixels (aspect kept, Lanczos), re-encodes it as PNG, falls back to JPEG when the PNG is larger
than ``max_bytes``, and refuses (``None``) an image that still does not fit, so the caller can
count what it left out. :func:`image_token_estimate` is the prompt-token cost of an image of a
given size for a ViT with 14-pixel patches merged 2x2 (Qwen2-VL's scheme; OpenAI's tile rule
charges less per pixel), used by dry runs and budget reservations.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

__all__ = ["ModelImage", "encode_for_model", "image_size", "image_token_estimate"]


@dataclass(frozen=True, slots=True)
class ModelImage:
    """One image ready for a request."""

    url: str  # data:image/...;base64,...
    width: int
    height: int
    bytes: int  # encoded size, before base64
    downscaled: bool  # True when the original was larger than max_side


def image_size(raw: bytes) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        return int(im.width), int(im.height)


def image_token_estimate(width: int, height: int) -> int:
    """Prompt tokens of one image for a 14-px-patch ViT whose 2x2 patches merge into one
    token (Qwen2-VL), plus 2 for the vision start/end markers."""
    return math.ceil(width / 28) * math.ceil(height / 28) + 2


def encode_for_model(raw: bytes, *, max_side: int, max_bytes: int) -> ModelImage | None:
    """``raw`` as a data URL whose longer side is at most ``max_side`` and whose encoded size
    is at most ``max_bytes``; None when no encoding fits (the caller counts it as left out)."""
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        w, h = im.size
        scale = min(1.0, max_side / max(w, h))
        img = im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB")
    if scale < 1.0:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    for mime, fmt in (("image/png", "PNG"), ("image/jpeg", "JPEG")):
        buf = io.BytesIO()
        (img.convert("RGB") if fmt == "JPEG" else img).save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
        data = buf.getvalue()
        if len(data) <= max_bytes:
            url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            return ModelImage(url, img.width, img.height, len(data), scale < 1.0)
    return None
