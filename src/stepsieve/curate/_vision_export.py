"""Rows for vision-language trainers: TRL's vision SFT layout and OpenAI vision fine-tuning.

Both start from ``vision_messages`` (``_vision``). The images of an export go through
``ExportMedia``: each distinct screenshot is read once from beside the input, its size and
sha256 checked (a missing, altered or non-image file is a DataError naming the trajectory,
step and image), then either linked into the export's own ``OUT.media`` folder (row paths
relative to the export file's folder, so the folder is self-contained) or inlined as a
``data:`` URL (OpenAI's JSONL, which has no side files).

- ``trl-vision``: ``messages`` whose every ``content`` is a list of parts,
  ``{"type": "image"}`` or ``{"type": "text", "text": ...}``, ``weight`` 0/1 on assistant
  messages, and ``images``: the paths, in the order of the image parts. TRL's
  ``DataCollatorForVisionLanguageModeling`` fills the parts from ``images`` (cast the column
  to ``datasets.Image``); with ``vlm_chat_template()`` and ``assistant_only_loss=True`` the
  loss falls exactly on the weight-1 assistant messages.
- ``openai-vision``: OpenAI's chat fine-tuning example with ``image_url`` parts
  (``data:`` URLs) in user messages, assistant content text with ``weight`` 0/1; at most
  ``OPENAI_MAX_IMAGES`` pictures per example (OpenAI's limit): older screenshots beyond it are
  left out of the example (counted in the manifest as ``images_left_out``).
"""

from __future__ import annotations

import base64
import io
from collections import OrderedDict
from pathlib import Path
from typing import Any

from stepsieve._errors import DataError
from stepsieve.curate._vision import Shot, vision_messages
from stepsieve.media import MediaResolver, MediaStore
from stepsieve.trajectory import MediaRef, Trajectory

__all__ = [
    "OPENAI_IMAGE_MIME",
    "OPENAI_MAX_IMAGES",
    "OPENAI_MAX_IMAGE_BYTES",
    "ExportMedia",
    "openai_vision_row",
    "trl_vision_row",
]

# OpenAI's vision fine-tuning data requirements (guides/vision-fine-tuning).
OPENAI_MAX_IMAGES = 10
OPENAI_MAX_IMAGE_BYTES = 10 * 1024 * 1024
OPENAI_IMAGE_MIME = frozenset({"image/jpeg", "image/png", "image/webp"})


class ExportMedia:
    """The images of one export: ``path`` links a screenshot into ``OUT.media`` and returns its
    path relative to OUT's folder; ``data_url`` inlines it. ``source`` is the input file whose
    records' image paths resolve against its folder. ``used`` counts the distinct images the
    rows hold, ``left_out`` the images an export's limit kept out of its rows."""

    def __init__(self, source: str | Path, output: str | Path) -> None:
        self.resolver = MediaResolver(source)
        self.store = MediaStore(output)
        self._paths: dict[str, str] = {}
        self._urls: OrderedDict[str, str] = OrderedDict()
        self._inlined: set[str] = set()
        self.left_out = 0

    @property
    def used(self) -> int:
        return len(self._paths) + len(self._inlined)

    def _read(self, t: Trajectory, shot: Shot) -> bytes:
        where = f"trajectory {t.id!r} step {shot.step}: "
        try:
            return self.resolver.read(shot.ref, where)
        except DataError as e:
            raise DataError(e.reason, path=e.path, trajectory=t.id, step=shot.step) from None

    def path(self, t: Trajectory, shot: Shot) -> str:
        ref = shot.ref
        p = self._paths.get(ref.sha256)
        if p is None:
            raw = self._read(t, shot)  # size, hash and type checked before the file is adopted
            if ref.path.startswith("data:"):
                mine = self.store.put(raw, mime=ref.mime)
            else:
                mine = self.store.link(self.resolver.locate(ref), ref)
            p = self._paths[ref.sha256] = mine.path
        return p

    def data_url(self, t: Trajectory, shot: Shot) -> str:
        """A ``data:`` URL OpenAI accepts: PNG/JPEG/WebP in RGB(A) as stored, anything else
        (GIF, a palette or grey PNG) re-encoded as RGB(A) PNG; over 10 MB, a JPEG."""
        url = self._urls.get(shot.ref.sha256)
        if url is not None:
            self._urls.move_to_end(shot.ref.sha256)
            return url
        raw = self._read(t, shot)
        url = _openai_url(raw, shot.ref)
        if url is None:
            raise DataError(f"trajectory {t.id!r} step {shot.step}: image {shot.ref.path[:60]} does not fit "
                            "OpenAI's 10 MB limit even as JPEG",
                            path=self.resolver.record_file, trajectory=t.id, step=shot.step)
        self._urls[shot.ref.sha256] = url
        self._inlined.add(shot.ref.sha256)
        if len(self._urls) > 64:  # screenshots repeat within a trajectory, rarely across
            self._urls.popitem(last=False)
        return url


def _openai_url(raw: bytes, ref: MediaRef) -> str | None:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as im:
        mode = im.mode
        if ref.mime in OPENAI_IMAGE_MIME and mode in ("RGB", "RGBA") and len(raw) <= OPENAI_MAX_IMAGE_BYTES:
            return f"data:{ref.mime};base64,{base64.b64encode(raw).decode()}"
        im.load()
        img = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        buf = io.BytesIO()
        (img.convert("RGB") if fmt == "JPEG" else img).save(buf, fmt)
        if buf.tell() <= OPENAI_MAX_IMAGE_BYTES:
            return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}"
    return None


def trl_vision_row(t: Trajectory, media: ExportMedia, weight_label: str, turns: str, sep: str,
                   obs_text: bool) -> dict[str, Any] | None:
    """TRL vision SFT conversation (None when no step is trained on)."""
    msgs, trained = vision_messages(t, weight_label, turns, sep, obs_text)
    if not trained:
        return None
    images: list[str] = []
    out = []
    for m in msgs:
        content = []
        for p in m["parts"]:
            if isinstance(p, Shot):
                images.append(media.path(t, p))
                content.append({"type": "image"})
            else:
                content.append({"type": "text", "text": p})
        msg: dict[str, Any] = {"role": m["role"], "content": content}
        if "weight" in m:
            msg["weight"] = m["weight"]
        out.append(msg)
    return {"messages": out, "images": images}


def openai_vision_row(t: Trajectory, media: ExportMedia, weight_label: str, turns: str, sep: str,
                      obs_text: bool, max_images: int = OPENAI_MAX_IMAGES) -> dict[str, Any] | None:
    """OpenAI vision fine-tuning example (None when no step is trained on)."""
    msgs, trained = vision_messages(t, weight_label, turns, sep, obs_text)
    if not trained:
        return None
    shots = [p for m in msgs for p in m["parts"] if isinstance(p, Shot)]
    keep = {id(s) for s in shots[max(0, len(shots) - max_images):]}
    media.left_out += len(shots) - len(keep)
    out = []
    for m in msgs:
        if m["role"] == "assistant":
            out.append({"role": "assistant", "content": "".join(m["parts"]), "weight": m["weight"]})
            continue
        parts: list[dict[str, Any]] = []
        for p in m["parts"]:
            if isinstance(p, Shot):
                if id(p) in keep:
                    parts.append({"type": "image_url", "image_url": {"url": media.data_url(t, p)}})
            else:
                parts.append({"type": "text", "text": p})
        if m["role"] == "system" or all(p["type"] == "text" for p in parts):
            text = "\n".join(p["text"] for p in parts)
            out.append({"role": m["role"], "content": text if text else "(screenshot left out)"})
        else:
            out.append({"role": m["role"], "content": parts})
    return {"messages": out}
