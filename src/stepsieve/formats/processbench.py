"""``processbench``: ProcessBench items (Qwen team; Apache-2.0).

    {"id", "generator", "problem", "steps": [str], "final_answer_correct": bool,
     "label": int}   # 0-based index of the earliest wrong step, -1 when all are correct

Mapping: ``problem`` -> task, ``steps`` -> reasoning steps, ``final_answer_correct`` ->
outcome.correct, ``generator`` -> meta. ``label`` becomes ``truth`` labels: steps before it
correct, the step at it incorrect, steps after it unlabelled (ProcessBench does not judge
them). Writing derives ``label`` from ``first_error(label_name)``.

The split (``gsm8k``, ``math``, ``olympiadbench``, ``omnimath``) goes to ``meta["split"]``: the
``split`` option when given (e.g. the name of the file the items came from), else the id's
prefix (``gsm8k-12``). ``stepsieve eval`` averages F1 per split, as ProcessBench's script does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from stepsieve._errors import DataError, SchemaError
from stepsieve.formats._fields import (
    TRUTH,
    extra_fields,
    need_label,
    optional,
    put_extra_fields,
    require,
    require_object,
    str_list,
    truth_label,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import Outcome, Step, Trajectory

__all__ = ["ProcessBench"]

_KNOWN = frozenset({"id", "generator", "problem", "steps", "final_answer_correct", "label"})
_ID_SPLIT = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)-\d+$")


def split_from_id(tid: str) -> str | None:
    """``gsm8k-12`` -> ``gsm8k``; None when the id has no ``name-number`` form."""
    m = _ID_SPLIT.match(tid)
    return m.group(1) if m else None


@dataclass(frozen=True)
class ProcessBench(RecordFormat):
    """``label``: the label whose first error is written as ProcessBench's ``label``;
    ``split``: the split of every item read (default: from the id prefix, ``gsm8k-12``)."""

    label: str = TRUTH
    split: str = ""

    name: ClassVar[str] = "processbench"
    description: ClassVar[str] = "ProcessBench: problem, steps, label = first wrong step (0-based) or -1"
    arrow_schema: ClassVar[Any] = pa.schema(
        [
            ("id", pa.string()),
            ("generator", pa.string()),
            ("problem", pa.string()),
            ("steps", pa.list_(pa.string())),
            ("final_answer_correct", pa.bool_()),
            ("label", pa.int64()),
        ]
    )

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        tid = require(obj, "id", (str, int))
        problem = require(obj, "problem", str)
        texts = str_list(obj, "steps")
        first = require(obj, "label", int)
        if not -1 <= first < len(texts):
            raise SchemaError(f"field 'label' must be -1 or a step index below {len(texts)}, got {first}")
        correct = optional(obj, "final_answer_correct", bool)
        steps = []
        for i, text in enumerate(texts):
            labels = {}
            if first == -1 or i <= first:
                labels[self.label] = truth_label(i != first)
            steps.append(Step(i, text, labels=labels))
        meta: dict[str, Any] = {"source": "processbench"}
        split = self.split or split_from_id(str(tid))
        if split:
            meta["split"] = split
        generator = optional(obj, "generator", str)
        if generator is not None:
            meta["generator"] = generator
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        return Trajectory(str(tid), problem, steps, Outcome(correct=correct), meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        if not isinstance(t.task, str):
            raise DataError(f"trajectory {t.id}: ProcessBench needs a text problem, not a message list")
        need_label(t, self.label, "ProcessBench")
        first = t.first_error(self.label)
        if first is None:
            raise DataError(f"trajectory {t.id}: '{self.label}' labels stop before any error, no first error")
        out: dict[str, Any] = {"id": t.id}
        if t.meta.get("generator") is not None:
            out["generator"] = t.meta["generator"]
        out |= {
            "problem": t.task,
            "steps": [s.text for s in t.steps],
            "final_answer_correct": t.outcome.correct,
            "label": first,
        }
        return put_extra_fields(out, t)
