"""OpenAI's documented rules for chat fine-tuning examples, checked line by line.

The rules of the fine-tuning API reference (``FineTuneChatRequestInput`` and its message
types) and of OpenAI's data-preparation cookbook (``chat_finetuning_data_prep``):

- an example is an object with ``messages`` (a non-empty list) and optionally ``tools``,
  ``parallel_tool_calls`` and the legacy ``functions``; nothing else;
- a message has a ``role`` among ``system``, ``developer``, ``user``, ``assistant``, ``tool``
  (and the legacy ``function``) and only the keys its role allows: every role ``role``,
  ``content``, ``name``; assistant also ``tool_calls``, ``function_call``, ``refusal``,
  ``audio`` and ``weight``; tool ``tool_call_id``. A key with a null value counts as present;
- ``content`` is a string (or a list of content parts); it may be null (or absent) only on an
  assistant message with ``tool_calls`` or ``function_call``;
- ``weight`` only on assistant messages, 0 or 1;
- ``tool_calls`` a non-empty list of ``{"id": str, "type": "function", "function": {"name":
  str, "arguments": str}}``, ids unique in the example;
- every ``tool`` message answers a call of the assistant message before it
  (``tool_call_id``), and every call is answered by exactly one ``tool`` message before the
  next non-tool message;
- at least one assistant message;
- content parts (vision fine-tuning, ``guides/vision-fine-tuning``): a list of ``{"type":
  "text", "text": str}`` and, in ``user`` messages only ("You cannot include images as output
  from messages with the assistant role"), ``{"type": "image_url", "image_url": {"url": str,
  "detail"?: "low" | "high" | "auto"}}`` whose url is an ``http(s)`` URL or a base64 ``data:``
  URL; at most 10 images per example; each image at most 10 MB, JPEG, PNG or WebP, in RGB or
  RGBA mode (checked on ``data:`` URLs by decoding them, since the bytes are in the file).

``openai_chat_problems(row)`` lists what breaks them (empty: valid); ``check_openai_chat_file``
reads a JSONL file and returns ``(line, problem)`` pairs.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path
from typing import Any

import orjson

__all__ = ["check_openai_chat_file", "openai_chat_problems"]

_TOP = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
_COMMON = frozenset({"role", "content", "name"})
_KEYS: dict[str, frozenset[str]] = {
    "system": _COMMON,
    "developer": _COMMON,
    "user": _COMMON,
    "assistant": _COMMON | {"tool_calls", "function_call", "refusal", "audio", "weight"},
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}


MAX_IMAGES = 10
MAX_IMAGE_BYTES = 10 * 1024 * 1024
_DATA_URL = re.compile(r"^data:(image/(?:jpeg|png|webp));base64,(.*)$", re.DOTALL)


def _image_problems(url: Any, where: str) -> list[str]:
    """What breaks OpenAI's image rules in one ``image_url`` url (a ``data:`` URL is decoded)."""
    if not isinstance(url, str) or not url:
        return [f"{where}.image_url.url must be a non-empty string"]
    if url.startswith(("https://", "http://")):
        return []
    m = _DATA_URL.match(url)
    if m is None:
        return [f"{where}.image_url.url must be an http(s) URL or a base64 data: URL of a JPEG, PNG or WebP image"]
    try:
        raw = base64.b64decode(m.group(2), validate=True)
    except (binascii.Error, ValueError):
        return [f"{where}.image_url.url: the data: URL is not valid base64"]
    if len(raw) > MAX_IMAGE_BYTES:
        return [f"{where}: image of {len(raw):,} bytes is over OpenAI's 10 MB limit"]
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as im:
            fmt, mode = (im.format or "").lower(), im.mode
    except (UnidentifiedImageError, OSError):
        return [f"{where}: the data: URL holds no readable image"]
    out = []
    if f"image/{fmt}" != m.group(1):
        out.append(f"{where}: declared {m.group(1)}, the bytes are {fmt or 'unknown'}")
    if mode not in ("RGB", "RGBA"):
        out.append(f"{where}: image mode {mode} (OpenAI accepts RGB or RGBA)")
    return out


def _parts_problems(parts: list[Any], role: Any, where: str) -> tuple[list[str], int]:
    """Problems of a content-part list and how many images it holds."""
    out: list[str] = []
    images = 0
    for j, p in enumerate(parts):
        w = f"{where}.content[{j}]"
        if not isinstance(p, dict):
            out.append(f"{w} is not an object")
            continue
        kind = p.get("type")
        if kind == "text":
            if set(p) - {"type", "text"}:
                out.append(f"{w} (text) has unknown keys {sorted(set(p) - {'type', 'text'})}")
            if not isinstance(p.get("text"), str):
                out.append(f"{w}.text must be a string")
        elif kind == "image_url":
            images += 1
            if role != "user":
                out.append(f"{w}: images are allowed only in user messages, not {role}")
            img = p.get("image_url")
            if set(p) - {"type", "image_url"}:
                out.append(f"{w} (image_url) has unknown keys {sorted(set(p) - {'type', 'image_url'})}")
            if not isinstance(img, dict):
                out.append(f"{w}.image_url must be an object")
                continue
            if set(img) - {"url", "detail"}:
                out.append(f"{w}.image_url has unknown keys {sorted(set(img) - {'url', 'detail'})}")
            if "detail" in img and img["detail"] not in ("low", "high", "auto"):
                out.append(f"{w}.image_url.detail must be low, high or auto, got {img['detail']!r}")
            out.extend(_image_problems(img.get("url"), w))
        else:
            out.append(f"{w}.type {kind!r} is not text or image_url")
    return out, images


def _call_problems(call: Any, where: str) -> list[str]:
    if not isinstance(call, dict):
        return [f"{where} is not an object"]
    out = []
    if set(call) - {"id", "type", "function"}:
        out.append(f"{where} has unknown keys {sorted(set(call) - {'id', 'type', 'function'})}")
    if not isinstance(call.get("id"), str) or not call.get("id"):
        out.append(f"{where}.id must be a non-empty string")
    if call.get("type") != "function":
        out.append(f"{where}.type must be 'function', got {call.get('type')!r}")
    fn = call.get("function")
    if not isinstance(fn, dict):
        return [*out, f"{where}.function must be an object"]
    if not isinstance(fn.get("name"), str) or not fn.get("name"):
        out.append(f"{where}.function.name must be a non-empty string")
    if not isinstance(fn.get("arguments"), str):
        out.append(f"{where}.function.arguments must be a string (JSON text)")
    return out


def openai_chat_problems(row: Any) -> list[str]:
    """What in one example breaks OpenAI's chat fine-tuning rules (see the module docstring)."""
    if not isinstance(row, dict):
        return ["example is not an object"]
    out = [f"unknown top-level key {k!r}" for k in row if k not in _TOP]
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return [*out, "messages must be a non-empty list"]
    pending: dict[str, int] = {}  # call id -> index of the assistant message that made it
    seen_ids: set[str] = set()
    assistants = images = 0
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            out.append(f"{where} is not an object")
            continue
        role = m.get("role")
        if role not in _KEYS:
            out.append(f"{where}.role {role!r} is not one of {', '.join(_KEYS)}")
            continue
        extra = sorted(set(m) - _KEYS[role])
        if extra:
            out.append(f"{where} ({role}) has keys its role does not allow: {', '.join(extra)}")
        if role != "tool" and pending:
            out.append(f"{where}: tool calls {sorted(pending)} have no tool message")
            pending.clear()
        content = m.get("content")
        calls = m.get("tool_calls")
        if content is None:
            if not (role == "assistant" and (calls or m.get("function_call"))):
                out.append(f"{where} ({role}) has no content")
        elif isinstance(content, list):
            found, n = _parts_problems(content, role, where)
            out.extend(found)
            images += n
        elif not isinstance(content, str):
            out.append(f"{where}.content must be a string or a list of parts")
        if role == "assistant":
            assistants += 1
            if "weight" in m and (type(m["weight"]) is not int or m["weight"] not in (0, 1)):
                out.append(f"{where}.weight must be 0 or 1, got {m['weight']!r}")
            if "tool_calls" in m:
                if not isinstance(calls, list) or not calls:
                    out.append(f"{where}.tool_calls must be a non-empty list")
                    continue
                for j, c in enumerate(calls):
                    out.extend(_call_problems(c, f"{where}.tool_calls[{j}]"))
                    cid = c.get("id") if isinstance(c, dict) else None
                    if isinstance(cid, str):
                        if cid in seen_ids:
                            out.append(f"{where}.tool_calls[{j}].id {cid!r} is used twice in the example")
                        seen_ids.add(cid)
                        pending[cid] = i
        elif role == "tool":
            cid = m.get("tool_call_id")
            if not isinstance(cid, str):
                out.append(f"{where} (tool) needs a tool_call_id string")
            elif cid not in pending:
                out.append(f"{where}: tool_call_id {cid!r} answers no open call of the assistant message before it")
            else:
                del pending[cid]
    if pending:
        out.append(f"tool calls {sorted(pending)} have no tool message")
    if not assistants:
        out.append("no assistant message")
    if images > MAX_IMAGES:
        out.append(f"{images} images in the example (OpenAI allows at most {MAX_IMAGES})")
    return out


def check_openai_chat_file(path: str | Path) -> list[tuple[int, str]]:
    """``(line, problem)`` for every rule a JSONL file of examples breaks (empty: valid)."""
    problems: list[tuple[int, str]] = []
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                problems.append((n, "empty line"))
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                problems.append((n, f"not JSON: {e}"))
                continue
            problems.extend((n, p) for p in openai_chat_problems(row))
    return problems
