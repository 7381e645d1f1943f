"""What the vision StepRM reads of a trajectory: screenshots, the action, the task text.

Per step ``j`` (``StepInputs``):

- ``screens[j]``: the screen before the action and the screen after it, each downscaled to
  ``screen`` (default 96x72, area filter), stacked as 6 channels;
- ``bands[j]``: the full-width strip of the *before* screen centred on the action's point
  (``band_height`` pixels at full vertical resolution, half horizontal resolution), where the
  clicked widget's label, price or switch is. The point itself reaches the model as numbers
  (``coords``) and as a marker channel the model draws from them;
- ``action``: the action type (one-hot over the computer-use vocabulary), ``coords``
  (x / width, y / height, has-point), the typed text's hashed word ids, and one number: the
  share of the typed words found in the task (number words read as digits: "two" ~ "2").

The model is never given the accessibility tree (the step's ``observation`` text): only the
pixels tell what is at the clicked point. The before screen is the step's ``before`` image,
else the previous step's ``after``; the after screen is the step's ``after`` image, else the
next step's ``before``. A step with neither is an error naming the trajectory and step.
Decoded screens are cached by sha256, so a screen shared by two steps is decoded once.
"""

from __future__ import annotations

import io
import itertools
import re
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stepsieve._errors import DataError
from stepsieve.media import MediaResolver
from stepsieve.trajectory import Action, MediaRef, Trajectory

__all__ = [
    "ACTION_TYPES",
    "ImageCache",
    "StepInputs",
    "hash_words",
    "task_words",
    "trajectory_inputs",
]

ACTION_TYPES = ("none", "click", "double_click", "move", "drag", "scroll", "type", "keypress", "wait",
                "screenshot", "done", "tool")
_NUMBERS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
            "eight": "8", "nine": "9", "ten": "10", "a": "1", "an": "1", "single": "1"}
_WORD = re.compile(r"[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """Lower-case words and numbers, number words read as digits."""
    return [_NUMBERS.get(w, w) for w in _WORD.findall(text.lower())]


def hash_words(ws: Sequence[str], buckets: int, *, bigrams: bool = False) -> list[int]:
    """Stable bucket ids (crc32) of words, and of adjacent word pairs with ``bigrams``."""
    items = list(ws) + ([f"{a} {b}" for a, b in itertools.pairwise(ws)] if bigrams else [])
    return [zlib.crc32(w.encode()) % buckets for w in items] or [0]


def task_words(task: Any) -> list[str]:
    """The task's words: a text task, or the user messages of a chat task (not the system prompt)."""
    if isinstance(task, str):
        return words(task)
    parts = [str(m.get("content", "")) for m in task if isinstance(m, dict) and m.get("role") == "user"]
    return words(" ".join(parts))


@dataclass
class StepInputs:
    """One trajectory's model inputs (uint8 pixels; see the module docstring)."""

    task_ids: torch.Tensor  # [n_task_words] int64 bucket ids
    screens: torch.Tensor  # [steps, 6, H, W] uint8: before RGB, after RGB
    bands: torch.Tensor  # [steps, 3, band_height, band_width] uint8: strip of the before screen
    action_type: torch.Tensor  # [steps] int64 index into ACTION_TYPES
    coords: torch.Tensor  # [steps, 3] float32: x / width, y / height, has-point
    typed_ids: list[list[int]]  # per step, bucket ids of the typed text's words ([0] when none)
    typed_match: torch.Tensor  # [steps] float32: share of typed words found in the task

    @property
    def steps(self) -> int:
        return int(self.action_type.shape[0])


class ImageCache:
    """Decoded screenshots by sha256: the downscaled screen and the full-resolution image
    (the latter only for the last few, which band crops read)."""

    def __init__(self, screen: tuple[int, int], full_keep: int = 64) -> None:
        self.screen = screen
        self.small: dict[str, torch.Tensor] = {}
        self.full: OrderedDict[str, Any] = OrderedDict()
        self.full_keep = full_keep

    def image(self, resolver: MediaResolver, ref: MediaRef, where: str) -> Any:
        from PIL import Image

        img = self.full.get(ref.sha256)
        if img is None:
            raw = resolver.read(ref, where)  # size, sha256 and type checked: errors name the image
            try:
                img = Image.open(io.BytesIO(raw)).convert("RGB")
            except Exception as e:  # noqa: BLE001 - Pillow raises many types for a corrupt file
                raise DataError(f"{where}image {ref.path} cannot be decoded: {e}",
                                path=resolver.record_file) from None
            self.full[ref.sha256] = img
            if len(self.full) > self.full_keep:
                self.full.popitem(last=False)
        else:
            self.full.move_to_end(ref.sha256)
        return img

    def small_of(self, resolver: MediaResolver, ref: MediaRef, where: str) -> torch.Tensor:
        from PIL import Image

        t = self.small.get(ref.sha256)
        if t is None:
            img = self.image(resolver, ref, where).resize(self.screen, Image.Resampling.BOX)
            t = self.small[ref.sha256] = _to_tensor(img)
        return t


def _to_tensor(img: Any) -> torch.Tensor:
    data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return data.view(img.size[1], img.size[0], 3).permute(2, 0, 1).contiguous()


def action_point(a: Action | None) -> tuple[int, int] | None:
    """The pixel an action acts at: click/move/scroll x,y, a drag's first point; else None."""
    if a is None:
        return None
    if a.x is not None and a.y is not None:
        return a.x, a.y
    if a.path:
        return a.path[0].x, a.path[0].y
    return None


def _band(img: Any, y: int | None, height: int, width: int) -> torch.Tensor:
    from PIL import Image

    if y is None:
        return torch.zeros((3, height, width), dtype=torch.uint8)
    top = y - height // 2
    strip = img.crop((0, top, img.size[0], top + height))  # rows off the screen come back black
    return _to_tensor(strip.resize((width, height), Image.Resampling.BOX))


def _screens(t: Trajectory) -> list[tuple[MediaRef | None, MediaRef | None]]:
    """(before, after) reference of every step, filled from the neighbours' images."""
    def pick(refs: list[MediaRef], role: str) -> MediaRef | None:
        found = [m for m in refs if m.role == role]
        return found[-1] if found else None

    befores = [pick(s.images, "before") for s in t.steps]
    afters = [pick(s.images, "after") for s in t.steps]
    out = []
    for j in range(len(t.steps)):
        before = befores[j] or (afters[j - 1] if j else None)
        after = afters[j] or (befores[j + 1] if j + 1 < len(t.steps) else None) or before
        out.append((before, after))
    return out


def trajectory_inputs(
    t: Trajectory,
    resolver: MediaResolver,
    cache: ImageCache,
    *,
    buckets: int,
    band: tuple[int, int],
) -> StepInputs:
    """The model inputs of one trajectory (see the module docstring); raises DataError naming
    the record file, trajectory and step when a step has no screenshot or one cannot be read."""
    band_w, band_h = band
    screens, bands, types, coords, typed, match = [], [], [], [], [], []
    task_ws = task_words(t.task)
    task_set = set(task_ws)
    last_point: tuple[int, int] | None = None
    for j, (step, (before, after)) in enumerate(zip(t.steps, _screens(t))):
        where = f"trajectory {t.id!r} step {j}: "
        if before is None or after is None:
            raise DataError(f"{where}no screenshot: the vision StepRM reads a 'before' or 'after' image "
                            "of every step (step.images)", path=resolver.record_file, trajectory=t.id, step=j)
        a = next((x for x in step.actions if x.type != "tool"), step.actions[0] if step.actions else None)
        img = cache.image(resolver, before, where)
        w, h = img.size
        point = action_point(a)
        # A typed text goes where the last click put the focus: read that strip.
        at = point or (last_point if a is not None and a.type == "type" else None)
        if point is not None:
            last_point = point
        screens.append(torch.cat([cache.small_of(resolver, before, where), cache.small_of(resolver, after, where)]))
        bands.append(_band(img, None if at is None else at[1], band_h, band_w))
        types.append(ACTION_TYPES.index(a.type) if a is not None and a.type in ACTION_TYPES else 0)
        coords.append([at[0] / w, at[1] / h, 1.0] if at is not None else [0.0, 0.0, 0.0])
        ws = words(a.text or "") if a is not None and a.type == "type" else []
        typed.append(hash_words(ws, buckets))
        match.append(sum(x in task_set for x in ws) / len(ws) if ws else 0.0)
    return StepInputs(
        task_ids=torch.tensor(hash_words(task_ws, buckets, bigrams=True), dtype=torch.long),
        screens=torch.stack(screens),
        bands=torch.stack(bands),
        action_type=torch.tensor(types, dtype=torch.long),
        coords=torch.tensor(coords, dtype=torch.float32),
        typed_ids=typed,
        typed_match=torch.tensor(match, dtype=torch.float32),
    )
