"""``prm800k``: PRM800K labelled solutions (OpenAI; MIT).

    {"labeler", "timestamp", "generation", "is_quality_control_question",
     "is_initial_screening_question",
     "question": {"problem", "ground_truth_answer", ...},
     "label": {"steps": [{"completions": [{"text", "rating", "flagged"}],
                          "human_completion", "chosen_completion"}],
               "total_time", "finish_reason"}}

Each ``label.steps[]`` entry becomes one step. Its text is the chosen completion; when
``chosen_completion`` is null, the human completion if there is one, else the first
completion (how PRM800K ends a solution at its first wrong step). The step's ``truth`` label
comes from that completion's rating: 1 -> correct, -1 -> incorrect, and the neutral 0 as the
``neutral`` option says:

- ``neutral="neutral"`` (default): verdict ``neutral``, score 0.5 - the dataset's own
  three-way judgement, left for graders and curators to decide;
- ``neutral="correct"`` / ``"incorrect"``: the two common binarisations (score 1.0 / 0.0).

The rating itself is always kept in ``label.extra["rating"]`` (and every completion in
``step.meta["prm800k"]``), so any choice stays lossless. ``question.problem`` -> task,
``question.ground_truth_answer`` -> reference, everything else -> ``meta["prm800k"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve._errors import ConfigError, DataError, SchemaError
from stepsieve.formats._fields import (
    TRUTH,
    need_label,
    optional,
    require,
    require_object,
    stable_id,
    type_name,
)
from stepsieve.formats._protocol import RecordFormat
from stepsieve.trajectory import Label, Step, Trajectory

__all__ = ["NEUTRAL_CHOICES", "PRM800K"]

NEUTRAL_CHOICES = ("neutral", "correct", "incorrect")
_SCORES = {"neutral": 0.5, "correct": 1.0, "incorrect": 0.0}


@dataclass(frozen=True)
class PRM800K(RecordFormat):
    """``neutral``: how a rating of 0 maps (see the module doc); ``label``: the label name."""

    neutral: str = "neutral"
    label: str = TRUTH

    name: ClassVar[str] = "prm800k"
    description: ClassVar[str] = "PRM800K: per-step completions rated -1/0/1 (option neutral=neutral|correct|incorrect)"
    nullable: ClassVar[frozenset[str]] = frozenset({"chosen_completion", "human_completion", "rating"})

    def __post_init__(self) -> None:
        if self.neutral not in NEUTRAL_CHOICES:
            raise ConfigError(f"prm800k neutral must be one of {', '.join(NEUTRAL_CHOICES)}, got {self.neutral!r}")

    def _label(self, rating: Any, where: str) -> Label:
        if rating is None:  # a human-written step: correct by construction, unrated
            return Label(1.0, "correct", extra={"rating": None})
        if isinstance(rating, bool) or rating not in (-1, 0, 1):
            raise SchemaError(f"{where}.rating must be -1, 0 or 1, got {rating!r}")
        verdict = {1: "correct", -1: "incorrect", 0: self.neutral}[rating]
        return Label(_SCORES[verdict], verdict, extra={"rating": rating})  # type: ignore[arg-type]

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj)
        question = require(obj, "question", dict)
        problem = require(question, "problem", str, "question.")
        reference = optional(question, "ground_truth_answer", str, "question.")
        label = require(obj, "label", dict)
        raw_steps = require(label, "steps", list, "label.")
        if not raw_steps:
            raise SchemaError("empty step list: field 'label.steps' has no steps")
        steps = []
        for i, st in enumerate(raw_steps):
            where = f"label.steps[{i}]"
            if not isinstance(st, dict):
                raise SchemaError(f"{where} must be an object, got {type_name(st)}")
            comps = require(st, "completions", list, f"{where}.")
            chosen = optional(st, "chosen_completion", int, f"{where}.")
            human = optional(st, "human_completion", dict, f"{where}.")
            for j, c in enumerate(comps):
                if not isinstance(c, dict) or not isinstance(c.get("text"), str):
                    raise SchemaError(f"{where}.completions[{j}] must be an object with a text")
            if chosen is not None:
                if not 0 <= chosen < len(comps):
                    raise SchemaError(f"{where}.chosen_completion {chosen} is out of range 0..{len(comps) - 1}")
                picked, wpick = comps[chosen], f"{where}.completions[{chosen}]"
            elif human is not None:
                picked, wpick = human, f"{where}.human_completion"
                if not isinstance(human.get("text"), str):
                    raise SchemaError(f"{wpick} must have a text")
            elif comps:
                picked, wpick = comps[0], f"{where}.completions[0]"
            else:
                raise SchemaError(f"{where} has no completions and no human completion")
            lab = self._label(picked.get("rating"), wpick)
            steps.append(Step(i, picked["text"], labels={self.label: lab}, meta={"prm800k": st}))
        rest = {k: v for k, v in obj.items() if k not in ("question", "label")}
        rest["question"] = {k: v for k, v in question.items() if k not in ("problem", "ground_truth_answer")}
        rest["label"] = {k: v for k, v in label.items() if k != "steps"}
        meta = {"source": "prm800k", "prm800k": rest}
        return Trajectory(stable_id("prm800k", obj), problem, steps, reference=reference, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        if not isinstance(t.task, str):
            raise DataError(f"trajectory {t.id}: PRM800K needs a text problem, not a message list")
        need_label(t, self.label, "PRM800K")
        rest = t.meta.get("prm800k") or {}
        out_steps = []
        for i, s in enumerate(t.steps):
            kept = (s.meta or {}).get("prm800k")
            if kept is not None and s.text in _texts(kept):  # unedited: write it back whole
                out_steps.append(kept)
                continue
            lab = s.labels.get(self.label)
            if lab is None or lab.verdict is None:
                raise DataError(f"trajectory {t.id}: step {i} has no '{self.label}' verdict to rate")
            rating = (lab.extra or {}).get("rating", {"correct": 1, "incorrect": -1, "neutral": 0}[lab.verdict])
            out_steps.append(
                {"completions": [{"text": s.text, "rating": rating, "flagged": False}],
                 "human_completion": None, "chosen_completion": 0}
            )
        question: dict[str, Any] = {"problem": t.task}
        if t.reference is not None:
            question["ground_truth_answer"] = t.reference
        question |= rest.get("question", {})
        label = {"steps": out_steps, **rest.get("label", {})}
        out = {k: v for k, v in rest.items() if k not in ("question", "label")}
        out["question"] = question
        out["label"] = label
        return out


def _texts(step: dict[str, Any]) -> list[str]:
    texts = [c.get("text") for c in step.get("completions") or ()]
    if step.get("human_completion"):
        texts.append(step["human_completion"].get("text"))
    return texts
