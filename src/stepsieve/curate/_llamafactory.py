"""Rows for LLaMA-Factory: its ShareGPT layout (OpenAI-style role/content tags), text or with
``<image>`` placeholders and an ``images`` column, and the ``dataset_info.json`` entry.

What LLaMA-Factory trains on (its ``data/README.md``, ``converter.py`` and
``processor/supervised.py``): a ShareGPT conversation must alternate user (or observation)
and assistant turns and end with an assistant turn; every assistant turn carries loss, or with
``mask_history: true`` only the last one. There is no per-message weight. So:

- ``lf_rows="turn"`` (default): **one row per trained assistant turn**, the conversation up
  to and including it; trained with ``mask_history: true``, each row's loss falls on its last
  turn only, so loss lands exactly on the weight-1 turns and a masked step stays context.
  A trajectory of n kept turns gives n rows (the images of the turns before repeat in each).
- ``lf_rows="record"``: one row per trajectory, every assistant turn trained (LLaMA-Factory's
  default, ``mask_history: false``); a trajectory with a masked (weight-0) step cannot be
  expressed and is counted as rejected. Use it after ``curate --mode truncate``.

Messages come from ``vision_messages`` (``_vision``): the action as text after its thought,
observations as ``user`` turns. Consecutive assistant messages (a weight change inside one
turn) are joined into one turn in the context; a weight-1 message that continues a masked one
in the same turn has no row of its own (LLaMA-Factory cannot train half a turn): counted in
the manifest as ``turns_not_expressible``. Image paths are relative to the export's folder,
the ``dataset_dir`` / ``media_dir`` LLaMA-Factory resolves them against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from stepsieve._errors import ConfigError, DataError
from stepsieve.curate._vision import Shot, vision_messages
from stepsieve.curate._vision_export import ExportMedia
from stepsieve.trajectory import Trajectory

__all__ = ["LF_ROWS", "LfCounts", "llamafactory_rows", "write_dataset_info"]

LF_ROWS = ("turn", "record")
IMAGE = "<image>"  # LLaMA-Factory's IMAGE_PLACEHOLDER


class LfCounts:
    """What the LLaMA-Factory layout could not express, for the manifest."""

    def __init__(self) -> None:
        self.turns_not_expressible = 0


def _content(t: Trajectory, parts: list[Any], media: ExportMedia | None, images: list[str]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, Shot):
            if media is not None:
                images.append(media.path(t, p))
                out += IMAGE
            continue
        if IMAGE in p and media is not None:
            raise DataError(f"its text holds {IMAGE!r}, LLaMA-Factory's image placeholder", trajectory=t.id)
        out += ("\n" if out and not out.endswith(IMAGE) else "") + p
    return out


def _row(t: Trajectory, msgs: list[dict[str, Any]], media: ExportMedia | None, sep: str) -> dict[str, Any]:
    """One ShareGPT example: system first, then strict user/assistant alternation."""
    images: list[str] = []
    out: list[dict[str, str]] = []
    for m in msgs:
        role = m["role"]
        text = _content(t, m["parts"], media, images)
        if role == "system" and not out:
            out.append({"role": "system", "content": text})
            continue
        role = "assistant" if role == "assistant" else "user"
        if out and out[-1]["role"] == role:  # a turn split by a weight change, or two user texts
            joint = sep if role == "assistant" else "\n"
            out[-1]["content"] = f"{out[-1]['content']}{joint}{text}"
        else:
            if role == "assistant" and (not out or out[-1]["role"] == "system"):
                out.append({"role": "user", "content": ""})
            out.append({"role": role, "content": text})
    row: dict[str, Any] = {"messages": out}
    if media is not None:
        row["images"] = images
    return row


def llamafactory_rows(t: Trajectory, media: ExportMedia | None, weight_label: str, turns: str, sep: str,
                      obs_text: bool, lf_rows: str, counts: LfCounts) -> list[dict[str, Any]]:
    """The rows of one trajectory (module docstring); empty when none can be written.
    ``media`` None: the text layout (screenshots left out, observation text kept)."""
    if lf_rows not in LF_ROWS:
        raise ConfigError(f"lf_rows must be one of {', '.join(LF_ROWS)}, got {lf_rows!r}")
    msgs, trained = vision_messages(t, weight_label, turns, sep, obs_text or media is None)
    if not trained:
        return []
    if lf_rows == "record":
        if any(m["role"] == "assistant" and m["weight"] == 0 for m in msgs):
            return []
        return [_row(t, msgs, media, sep)]
    rows = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant" or m["weight"] != 1:
            continue
        if i > 0 and msgs[i - 1]["role"] == "assistant":
            counts.turns_not_expressible += 1
            continue
        rows.append(_row(t, msgs[: i + 1], media, sep))
    return rows


def write_dataset_info(output: str | Path, vision: bool) -> Path:
    """Add (or replace) the export's entry in ``dataset_info.json`` beside it; the entry's name
    is the export file's stem. Returns the file's path."""
    output = Path(output)
    info_path = output.parent / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.exists():
        try:
            info = orjson.loads(info_path.read_bytes())
        except orjson.JSONDecodeError as e:
            raise DataError(f"not JSON: {e}", path=str(info_path)) from None
        if not isinstance(info, dict):
            raise DataError("dataset_info.json must hold an object", path=str(info_path))
    columns = {"messages": "messages", **({"images": "images"} if vision else {})}
    info[output.stem] = {
        "file_name": output.name,
        "formatting": "sharegpt",
        "columns": columns,
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"},
    }
    tmp = info_path.with_name(f"{info_path.name}.{os.getpid()}.partial")
    tmp.write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    os.replace(tmp, info_path)
    return info_path
