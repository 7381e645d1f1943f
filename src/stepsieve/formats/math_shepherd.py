"""``math-shepherd``: Math-Shepherd rows (Wang et al. 2024; Apache-2.0).

    {"input": "<question> Step 1: ... ки\\nStep 2: ... ки",
     "label": "<the same text with each ки replaced by + or ->",
     "task": "GSM8K" | "MATH"}

The ``ки`` tag ends each step (a ``tag`` segmenter); the question is the text before
"Step 1:". The "Step k: " markers are layout: step texts are stored without them and
writing adds them back. ``+``/``-`` become ``truth`` labels (correct/incorrect; Math-Shepherd's are
hard MC estimates). The label string is read at the tag positions of ``input``, so a ``+``
or ``-`` inside a step's own text is never mistaken for a label. Writing rebuilds
``question Step 1: ... ки\\nStep 2: ... ки``; an input not in that exact layout is kept
verbatim in ``meta["math_shepherd"]`` so the round trip is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import DataError, SchemaError
from stepsieve.formats._fields import (
    TRUTH,
    extra_fields,
    need_label,
    put_extra_fields,
    require,
    require_object,
    stable_id,
    truth_label,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.segment import TagSegmenter
from stepsieve.trajectory import Step, Trajectory

__all__ = ["MathShepherd"]

TAG = "ки"
_SEG = TagSegmenter(TAG)
_FIRST_STEP = re.compile(r"Step\s*1\s*:")
_KNOWN = frozenset({"input", "label"})


def _marker(i: int) -> str:
    return f"Step {i + 1}: "


def _build(task: str, steps: list[str]) -> str:
    body = _SEG.join([_marker(i) + s for i, s in enumerate(steps)])
    return f"{task} {body}" if task else body


def _strip_markers(texts: list[str]) -> list[str]:
    """"Step k: " is layout, not content: drop it where it is exactly the k-th marker."""
    return [t[len(_marker(i)) :] if t.startswith(_marker(i)) else t for i, t in enumerate(texts)]


@dataclass(frozen=True)
class MathShepherd(RecordFormat):
    """``label``: the label name read from / written as the ``+``/``-`` tags."""

    label: str = TRUTH

    name: ClassVar[str] = "math-shepherd"
    description: ClassVar[str] = "Math-Shepherd: input with ки step tags, label with +/- at the tags"

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        text = require(obj, "input", str)
        tagged = require(obj, "label", str)
        pieces = text.split(TAG)
        if len(pieces) < 2:
            raise SchemaError(f"empty step list: field 'input' has no '{TAG}' step tags")
        # Tag k (0-based) sits at input offset p_k; in the label each 2-char tag is 1 char.
        marks = []
        pos = 0
        for k, piece in enumerate(pieces[:-1]):
            pos += len(piece)
            at = pos - k * (len(TAG) - 1)
            mark = tagged[at] if at < len(tagged) else ""
            if mark not in ("+", "-"):
                raise SchemaError(f"field 'label' has {mark!r} where step {k} ends, expected '+' or '-'")
            marks.append(mark == "+")
            pos += len(TAG)
        if len(tagged) != len(text) - len(marks) * (len(TAG) - 1):
            raise SchemaError("field 'label' does not line up with 'input' (different text around the tags)")
        first = pieces[0]
        m = _FIRST_STEP.search(first)
        task = first[: m.start()].strip() if m else ""
        texts = _strip_markers(_SEG.split(text[m.start() :] if m else text))
        if len(texts) != len(marks):
            raise SchemaError("a step between two ки tags is empty")
        steps = [Step(i, t, labels={self.label: truth_label(ok)}) for i, t, ok in zip(range(len(texts)), texts, marks)]
        meta: dict[str, Any] = {"source": "math-shepherd"}
        if _build(task, texts) != text:
            meta["math_shepherd"] = {"input": text}
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        return Trajectory(stable_id("math-shepherd", text), task, steps, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        if not isinstance(t.task, str):
            raise DataError(f"trajectory {t.id}: Math-Shepherd needs a text question, not a message list")
        need_label(t, self.label, "Math-Shepherd")
        marks = []
        for i, s in enumerate(t.steps):
            lab = s.labels.get(self.label)
            if lab is None or lab.verdict not in ("correct", "incorrect"):
                raise DataError(f"trajectory {t.id}: step {i} has no correct/incorrect '{self.label}' verdict")
            marks.append("+" if lab.verdict == "correct" else "-")
        texts = [s.text for s in t.steps]
        kept = (t.meta.get("math_shepherd") or {}).get("input")
        text = kept if kept is not None and _same_steps(kept, texts) else _build(t.task, texts)
        pieces = text.split(TAG)
        label = "".join(p + m for p, m in zip(pieces, marks)) + pieces[-1]
        return put_extra_fields({"input": text, "label": label}, t)


def _same_steps(kept: str, texts: list[str]) -> bool:
    """Whether a kept verbatim input still holds exactly these step texts."""
    first = kept.split(TAG, maxsplit=1)[0]
    m = _FIRST_STEP.search(first)
    return _strip_markers(_SEG.split(kept[m.start() :] if m else kept)) == texts
