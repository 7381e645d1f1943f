"""``osworld``: OSWorld result folders — ``traj.jsonl`` plus a screenshot file per action.

OSWorld's runner (``lib_run_single.py``) writes, for each example, a folder
``results/<action_space>/<observation_type>/<model>/<domain>/<example_id>/`` holding::

    traj.jsonl                   one line per executed action:
        {"step_num": 1, "action_timestamp": "20240101@120000",
         "action": "pyautogui.click(412, 230)",        # or a computer_13 dict, or WAIT/DONE/FAIL
         "response": "...",                            # the model's reply (most agents)
         "reward": 0, "done": false, "info": {...},
         "screenshot_file": "step_1_20240101@120000.png"}
        {"Error": "Time limit exceeded in chrome/bb5e4c0d"}   # written when a run is cut short
    step_1_20240101@120000.png   the screen AFTER that action
    result.txt                   the evaluator's score, e.g. ``1.0``

Mapping: each action line is one ``action`` step (several actions of one model reply share
``step_num`` and ``response``: the reply is the ``thought`` of the first of them). Images:
the step's own screenshot is its ``after`` image, the previous step's is its ``before``
(the screen before the first action is not saved by OSWorld). The action becomes an Action
of OpenAI's ``computer_call`` vocabulary where it is one call: ``pyautogui.click/
doubleClick/rightClick/moveTo/dragTo/typewrite/write/press/hotkey/scroll/hscroll`` (parsed
with ``ast``, never executed; ``import`` and ``time.sleep`` lines ignored), a computer_13
``{"action_type": "CLICK", "parameters": {...}}``, ``WAIT``, ``DONE`` and ``FAIL`` (``done``
with text ``FAIL``); any other code is kept whole as a ``pyautogui`` tool call. The score in
``result.txt`` is ``outcome.reward`` (``correct`` when it is 1). ``Error`` lines go to
``meta["errors"]``; other fields to ``step.meta``.

The task instruction is not in the folder: pass the benchmark's examples folder
(``--in-opt examples=evaluation_examples/examples``, read as ``<domain>/<example_id>.json``)
to have it; without it the task names the example and ``meta["instruction"]`` is False.

A path is a ``traj.jsonl`` file, an example folder, or any folder above (each ``traj.jsonl``
under it is one trajectory). A missing or unreadable screenshot, or a line that is not JSON,
is an error naming the file, line and image — the run is quarantined with ``--on-error skip``.

Read-only.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import msgspec
import orjson

from stepsieve._errors import SchemaError
from stepsieve.formats._agent import render_action
from stepsieve.formats._fields import type_name
from stepsieve.formats._files import DocumentFormat, existing_path
from stepsieve.formats.anthropic import read_only
from stepsieve.media import sniff_image
from stepsieve.trajectory import Action, MediaRef, Outcome, Point, SourceRecord, Step, Trajectory

__all__ = ["OSWorld", "pyautogui_action"]


# ---- actions ---------------------------------------------------------------------------------


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)  # literals only: never evaluates code


def _xy(args: list[Any], kw: dict[str, Any]) -> tuple[int, int] | None:
    x, y = kw.get("x", args[0] if len(args) > 0 else None), kw.get("y", args[1] if len(args) > 1 else None)
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        return int(x), int(y)
    return None


def _pyautogui_call(name: str, args: list[Any], kw: dict[str, Any]) -> Action | None:
    xy = _xy(args, kw)
    if name in ("click", "leftClick", "rightClick", "middleClick", "doubleClick", "tripleClick"):
        button = {"rightClick": "right", "middleClick": "middle"}.get(name, str(kw.get("button", "left")))
        clicks = kw.get("clicks", 2 if name == "doubleClick" else 1)
        if name == "tripleClick" or clicks not in (1, 2):
            return None
        kind = "double_click" if clicks == 2 else "click"
        x, y = xy if xy is not None else (None, None)
        return Action(kind, x=x, y=y, button=button if kind == "click" else None)  # type: ignore[arg-type]
    if name == "moveTo" and xy is not None:
        return Action("move", x=xy[0], y=xy[1])
    if name == "dragTo" and xy is not None:
        return Action("drag", path=[Point(*xy)])
    if name in ("typewrite", "write"):
        text = args[0] if args else kw.get("message")
        if isinstance(text, str):
            return Action("type", text=text)
        if isinstance(text, list) and all(isinstance(k, str) for k in text):
            return Action("keypress", keys=text)
        return None
    if name == "press":
        keys = args[0] if args else kw.get("keys")
        keys = [keys] if isinstance(keys, str) else keys
        presses = kw.get("presses", 1)
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys) and presses == 1:
            return Action("keypress", keys=keys)
        return None
    if name == "hotkey" and args and all(isinstance(k, str) for k in args):
        return Action("keypress", keys=list(args))
    if name in ("scroll", "vscroll", "hscroll") and args and isinstance(args[0], (int, float)):
        amount = int(args[0])  # pyautogui: positive scrolls up / right
        x, y = xy if (xy := _xy(args[1:], kw)) is not None else (None, None)
        if name == "hscroll":
            return Action("scroll", x=x, y=y, scroll_x=amount, scroll_y=0)
        return Action("scroll", x=x, y=y, scroll_x=0, scroll_y=-amount)
    return None


def pyautogui_action(code: str) -> Action | None:
    """The Action of a snippet of pyautogui code that makes one known call (``import`` and
    ``time.sleep`` lines aside), or None. The code is parsed, never run."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    calls = []
    for st in tree.body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            continue
        if not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call)):
            return None
        fn = st.value.func
        if not (isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name)):
            return None
        if (fn.value.id, fn.attr) == ("time", "sleep"):
            continue
        if fn.value.id != "pyautogui":
            return None
        calls.append(st.value)
    if len(calls) != 1:
        return None
    call = calls[0]
    try:
        args = [_literal(a) for a in call.args]
        kw = {k.arg: _literal(k.value) for k in call.keywords if k.arg is not None}
    except (ValueError, SyntaxError, TypeError):
        return None  # an argument that is not a literal (a variable, an expression)
    assert isinstance(call.func, ast.Attribute)
    return _pyautogui_call(call.func.attr, args, kw)


def _computer13(action: dict[str, Any]) -> Action | None:
    """OSWorld's ``computer_13`` action space."""
    kind = action.get("action_type")
    params = action.get("parameters")
    p: dict[str, Any] = params if isinstance(params, dict) else {}
    xy = _xy([], p)
    x, y = xy if xy is not None else (None, None)
    if kind in ("CLICK", "RIGHT_CLICK", "DOUBLE_CLICK"):
        if kind == "DOUBLE_CLICK" or p.get("num_clicks") == 2:
            return Action("double_click", x=x, y=y)
        return Action("click", x=x, y=y, button="right" if kind == "RIGHT_CLICK" else str(p.get("button", "left")))
    if kind == "MOVE_TO":
        return Action("move", x=x, y=y)
    if kind == "DRAG_TO" and xy is not None:
        return Action("drag", path=[Point(*xy)])
    if kind == "TYPING" and isinstance(p.get("text"), str):
        return Action("type", text=p["text"])
    if kind == "PRESS" and isinstance(p.get("key"), str):
        return Action("keypress", keys=[p["key"]])
    if kind == "HOTKEY" and isinstance(p.get("keys"), list):
        return Action("keypress", keys=[str(k) for k in p["keys"]])
    if kind == "SCROLL":
        dx, dy = p.get("dx", 0), p.get("dy", 0)
        if isinstance(dx, (int, float)) and isinstance(dy, (int, float)):
            return Action("scroll", scroll_x=int(dx), scroll_y=-int(dy))
    if kind == "WAIT":
        return Action("wait")
    if kind in ("DONE", "FAIL"):
        return Action("done", text=kind)
    return None


def _action(raw: Any) -> tuple[str, Action]:
    """(the step's text, its Action) of one ``action`` value."""
    if isinstance(raw, str):
        word = raw.strip()
        if word == "WAIT":
            return word, Action("wait")
        if word in ("DONE", "FAIL"):
            return word, Action("done", text=word)
        found = pyautogui_action(raw)
        if found is None:  # code that is not one known call: kept whole
            found = Action("tool", name="pyautogui", arguments=json.dumps({"code": raw}))
        return raw, found
    if isinstance(raw, dict):
        found = _computer13(raw)
        if found is not None:
            return render_action(found), found
        return json.dumps(raw, ensure_ascii=False), Action("tool", name="computer_13", arguments=json.dumps(raw))
    raise SchemaError(f"action must be pyautogui code, a computer_13 object or WAIT/DONE/FAIL, got {type_name(raw)}")


# ---- files -----------------------------------------------------------------------------------


def _image(run: Path, root: Path, name: Any) -> dict[str, Any]:
    """The reference (path relative to ``root``) and checks of one screenshot file."""
    if not isinstance(name, str) or not name:
        return {"error": f"screenshot_file must be a file name, got {type_name(name)}"}
    f = run / name
    rel = os.path.relpath(f, root).replace(os.sep, "/")
    try:
        data = f.read_bytes()
    except FileNotFoundError:
        return {"error": f"screenshot {rel} is missing"}
    except OSError as e:
        return {"error": f"screenshot {rel} cannot be read: {e.strerror}"}
    mime = sniff_image(data)
    if mime is None:
        return {"error": f"screenshot {rel} is not an image"}
    return {"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "mime": mime}


@dataclass(frozen=True)
class OSWorld(DocumentFormat):
    """OSWorld ``traj.jsonl`` result folders with their screenshots (read-only)."""

    name: ClassVar[str] = "osworld"
    description: ClassVar[str] = "OSWorld result folders: traj.jsonl + per-action screenshots (read-only)"
    examples: str | None = None  # evaluation_examples/examples: <domain>/<id>.json gives the instruction

    def iter_records(self, path: str, progress: list[int]) -> Iterator[SourceRecord]:
        p = Path(existing_path(path, folder=True))
        root = p if p.is_dir() else p.parent
        if p.is_dir():
            trajs = [p / "traj.jsonl"] if (p / "traj.jsonl").is_file() else sorted(p.rglob("traj.jsonl"))
        else:
            trajs = [p]
        if not trajs:
            yield SourceRecord(1, None, f"no OSWorld run here: {path} holds no traj.jsonl")
            return
        for traj in trajs:
            yield self._run(traj, root, progress)

    def _run(self, traj: Path, root: Path, progress: list[int]) -> SourceRecord:
        rel = os.path.relpath(traj, root).replace(os.sep, "/")
        data = traj.read_bytes().removeprefix(b"\xef\xbb\xbf")
        progress[0] += len(data)
        entries = []
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                return SourceRecord(n, None, f"{rel} line {n}: malformed JSON: {e}")
            if not isinstance(entry, dict):
                return SourceRecord(n, None, f"{rel} line {n}: expected a JSON object, got {type_name(entry)}")
            if "screenshot_file" in entry:
                entry = {**entry, "_image": _image(traj.parent, root, entry["screenshot_file"])}
            entries.append((n, entry))
        result = traj.parent / "result.txt"
        run = traj.parent.resolve().parts[-2:]  # <domain>/<example_id>
        value = {
            "file": rel,
            "run": list(run),
            "entries": entries,
            "result": result.read_text(errors="replace").strip() if result.is_file() else None,
            "instruction": self._instruction(run),
        }
        return SourceRecord(1, value, raw=data)

    def _instruction(self, run: tuple[str, ...]) -> str | None:
        if self.examples is None or len(run) < 2:
            return None
        f = Path(self.examples) / run[0] / f"{run[1]}.json"
        try:
            doc = orjson.loads(f.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        text = doc.get("instruction") if isinstance(doc, dict) else None
        return text if isinstance(text, str) else None

    # ---- one run -> one Trajectory -------------------------------------------------------------

    def decode(self, obj: Any) -> Trajectory:
        if not isinstance(obj, dict) or "entries" not in obj:
            raise SchemaError("an OSWorld record is a traj.jsonl file read by the osworld format")
        steps: list[Step] = []
        errors: list[Any] = []
        before: MediaRef | None = None
        last_num: Any = object()
        for n, entry in obj["entries"]:
            if "action" not in entry:
                if "Error" in entry:
                    errors.append(entry["Error"])
                    continue
                raise SchemaError(f"{obj['file']} line {n}: no action (keys: {', '.join(sorted(entry))})", line=n)
            try:
                text, action = _action(entry["action"])
            except SchemaError as e:
                raise SchemaError(f"{obj['file']} line {n}: {e.reason}", line=n) from None
            images = [] if before is None else [msgspec.structs.replace(before, role="before")]
            img = entry.get("_image")
            if img is not None:
                if "error" in img:
                    raise SchemaError(f"{obj['file']} line {n}: {img['error']}", line=n)
                before = MediaRef(img["path"], img["sha256"], img["size"], img["mime"], "after")
                images.append(before)
            response = entry.get("response")
            first_of_reply = entry.get("step_num") != last_num
            last_num = entry.get("step_num")
            meta = {k: v for k, v in entry.items() if k not in ("action", "response", "_image")}
            if not first_of_reply and isinstance(response, str):
                meta["same_reply_as_previous"] = True
            steps.append(
                Step(
                    len(steps),
                    text,
                    "action",
                    thought=response if first_of_reply and isinstance(response, str) and response else None,
                    meta=meta,
                    actions=[action],
                    images=images,
                )
            )
        if not steps:
            raise SchemaError(f"{obj['file']}: no action line (a trajectory needs a step)")
        run = obj["run"]
        reward = _score(obj.get("result"))
        tmeta: dict[str, Any] = {
            "source": "osworld",
            "file": obj["file"],
            "instruction": obj.get("instruction") is not None,
        }
        if len(run) == 2:
            tmeta["domain"], tmeta["example_id"] = run
        if errors:
            tmeta["errors"] = errors
        if obj.get("result") is not None and reward is None:
            tmeta["result"] = obj["result"]
        return Trajectory(
            id="osworld-" + "/".join(run),
            task=obj.get("instruction") or f"OSWorld example {'/'.join(run)} (instruction not in the log)",
            steps=steps,
            outcome=Outcome(answer=None, correct=None if reward is None else reward >= 1.0, reward=reward),
            meta=tmeta,
        )

    def encode(self, t: Trajectory) -> dict[str, Any]:
        raise read_only(self.name)


def _score(text: Any) -> float | None:
    try:
        return float(text) if isinstance(text, str) else None
    except ValueError:
        return None
