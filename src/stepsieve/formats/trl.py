"""``trl``: TRL's stepwise-supervision rows.

    {"prompt": str | [messages], "completions": [str], "labels": [bool] | [float]}

``prompt`` -> task, each completion -> a reasoning step, each label -> a ``truth`` label.
Bool labels become verdicts with score 1.0/0.0. Float (soft) labels keep their value as
the score, exactly; the verdict is ``correct`` when the score reaches ``threshold``
(default 0.5) and ``label.extra["soft"]`` marks them so writing gives floats back. Writing
a label without that mark gives bools (``soft=true`` forces floats: the scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import ConfigError, DataError, SchemaError
from stepsieve.formats._fields import (
    TRUTH,
    extra_fields,
    need_label,
    optional,
    put_extra_fields,
    require,
    require_object,
    stable_id,
    str_list,
    type_name,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import Label, Step, Trajectory

__all__ = ["TRLStepwise"]

_KNOWN = frozenset({"prompt", "completions", "labels", "id"})


@dataclass(frozen=True)
class TRLStepwise(RecordFormat):
    """Options: ``label`` name, soft-label ``threshold``, ``soft`` (write floats always)."""

    label: str = TRUTH
    threshold: float = 0.5
    soft: bool = False

    name: ClassVar[str] = "trl"
    description: ClassVar[str] = "TRL stepwise supervision: prompt, completions, labels (bool or float)"

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"trl threshold must be within [0, 1], got {self.threshold}")

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        prompt = require(obj, "prompt", (str, list))
        texts = str_list(obj, "completions")
        raw = require(obj, "labels", list)
        if len(raw) != len(texts):
            raise SchemaError(f"field 'labels' has {len(raw)} items for {len(texts)} completions")
        steps = []
        for i, (text, v) in enumerate(zip(texts, raw)):
            if isinstance(v, bool):
                lab = Label(1.0 if v else 0.0, "correct" if v else "incorrect")
            elif isinstance(v, (int, float)):
                score = float(v)
                if not 0.0 <= score <= 1.0:  # a soft label is a probability
                    raise SchemaError(f"field 'labels' item {i} is {v!r}: a soft label must lie in [0, 1]")
                lab = Label(score, "correct" if score >= self.threshold else "incorrect", extra={"soft": True})
            else:
                raise SchemaError(f"field 'labels' item {i} must be a boolean or a number, got {type_name(v)}")
            steps.append(Step(i, text, labels={self.label: lab}))
        tid = optional(obj, "id", (str, int))
        meta: dict[str, Any] = {"source": "trl"}
        extra = extra_fields(obj, _KNOWN)
        if extra:
            meta["extra_fields"] = extra
        if tid is None:
            meta["id_generated"] = True  # so writing back adds no id the source lacked
        return Trajectory(str(tid) if tid is not None else stable_id("trl", obj), prompt, steps, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        need_label(t, self.label, "TRL stepwise supervision")
        labels: list[bool | float] = []
        for i, s in enumerate(t.steps):
            lab = s.labels.get(self.label)
            if lab is None:
                raise DataError(f"trajectory {t.id}: step {i} has no '{self.label}' label")
            if self.soft or (lab.extra or {}).get("soft"):
                if lab.score is None:
                    raise DataError(f"trajectory {t.id}: step {i} '{self.label}' label has no score")
                labels.append(lab.score)
            elif lab.verdict in ("correct", "incorrect"):
                labels.append(lab.verdict == "correct")
            else:
                raise DataError(f"trajectory {t.id}: step {i} '{self.label}' verdict is {lab.verdict!r}, not a bool")
        out: dict[str, Any] = {"prompt": t.task, "completions": [s.text for s in t.steps], "labels": labels}
        if not t.meta.get("id_generated"):
            out["id"] = t.id
        return put_extra_fields(out, t)
