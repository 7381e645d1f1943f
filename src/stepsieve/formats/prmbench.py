"""``prmbench``: PRMBench items (Apache-2.0).

    {"original_question", "modified_question", "original_process": [str],
     "modified_process": [str], "modified_steps": [int], "error_steps": [int],   # 1-based
     "reason", "idx", "question", "classification"}

Mapping: ``idx`` -> id, ``modified_question`` -> task, ``modified_process`` -> steps,
``error_steps`` -> ``truth`` labels (every step is judged: listed ones incorrect, the rest
correct). The original question/process, ``modified_steps``, ``reason``, ``question`` and
``classification`` go to ``meta["prmbench"]`` and are written back.

``error_steps`` beyond the step count occur in the published files (21 of 26); PRMBench's
scorer ignores them (it walks the steps). By default they are ignored the same way, kept
in ``meta["prmbench"]["error_steps"]`` (order as written) and listed in
``meta["prmbench"]["out_of_range"]`` so evaluation can count and report them; ``strict=true``
rejects such a record instead. Writing keeps the original ``error_steps`` (order and
out-of-range entries) when the label still marks exactly its in-range steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

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
from stepsieve.trajectory import Step, Trajectory

__all__ = ["PRMBench"]

_KEPT = ("original_question", "original_process", "modified_steps", "reason", "question", "classification")
_KNOWN = frozenset({"idx", "modified_question", "modified_process", "error_steps", *_KEPT})


def _int_list(obj: dict[str, Any], key: str) -> list[int]:
    v = require(obj, key, list)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in v):
        raise SchemaError(f"field '{key}' must be a list of integers")
    return v


@dataclass(frozen=True)
class PRMBench(RecordFormat):
    """``label``: the label written as ``error_steps`` (steps whose verdict is incorrect);
    ``strict``: reject ``error_steps`` beyond the steps instead of ignoring them (the official
    scorer's behaviour)."""

    label: str = TRUTH
    strict: bool = False

    name: ClassVar[str] = "prmbench"
    description: ClassVar[str] = "PRMBench: modified_process with 1-based error_steps and a classification"

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        tid = require(obj, "idx", (str, int))
        question = require(obj, "modified_question", str)
        texts = str_list(obj, "modified_process")
        listed = _int_list(obj, "error_steps")
        errors = set(listed)
        bad = [e for e in listed if not 1 <= e <= len(texts)]
        if bad and self.strict:
            raise SchemaError(f"field 'error_steps' has {bad[0]}, outside steps 1..{len(texts)} (1-based)")
        steps = [Step(i, text, labels={self.label: truth_label(i + 1 not in errors)})
                 for i, text in enumerate(texts)]
        kept = {k: obj[k] for k in _KEPT if k in obj}
        kept["error_steps"] = listed
        if bad:
            kept["out_of_range"] = bad
        if "original_process" in kept:
            str_list(obj, "original_process", nonempty=False)
        if "modified_steps" in kept:
            _int_list(obj, "modified_steps")
        for k in ("original_question", "reason", "question", "classification"):
            optional(obj, k, str)
        meta: dict[str, Any] = {"source": "prmbench", "prmbench": kept}
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        return Trajectory(str(tid), question, steps, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        if not isinstance(t.task, str):
            raise DataError(f"trajectory {t.id}: PRMBench needs a text question, not a message list")
        need_label(t, self.label, "PRMBench")
        errors = []
        for i, s in enumerate(t.steps):
            lab = s.labels.get(self.label)
            if lab is None or lab.verdict is None:
                raise DataError(
                    f"trajectory {t.id}: step {i} has no '{self.label}' verdict (PRMBench judges every step)"
                )
            if lab.verdict == "incorrect":
                errors.append(i + 1)
        out: dict[str, Any] = {}
        kept = t.meta.get("prmbench") or {}
        out["original_question"] = kept.get("original_question", t.task)
        out["modified_question"] = t.task
        out["original_process"] = kept.get("original_process", [])
        out["modified_process"] = [s.text for s in t.steps]
        out["modified_steps"] = kept.get("modified_steps", errors)
        listed = kept.get("error_steps")
        if isinstance(listed, list) and sorted({e for e in listed if 1 <= e <= len(t.steps)}) == errors:
            errors = listed  # unchanged: keep the order and out-of-range entries as written
        out["error_steps"] = errors
        out["reason"] = kept.get("reason", "")
        out["idx"] = t.id
        out["question"] = kept.get("question", t.task)
        out["classification"] = kept.get("classification", "")
        return put_extra_fields(out, t)
