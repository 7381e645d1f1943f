"""The canonical record: Trajectory, Step, Label, Outcome, Cost.

Every stage of stepsieve reads and writes these; adapters in ``stepsieve.formats`` are the
only code that knows a foreign layout. A record is plain data (slotted dataclasses) with a
``to_dict``/``from_dict`` pair that defines the on-disk schema (``SCHEMA_VERSION``).

``from_dict`` validates: a wrong type or missing field raises ``SchemaError`` naming the
field (the reader adds file and line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from stepsieve._errors import SchemaError

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Cost",
    "GraderRef",
    "Label",
    "Outcome",
    "Step",
    "StepKind",
    "Trajectory",
    "Verdict",
]

SCHEMA_VERSION = 1

Verdict = Literal["correct", "incorrect", "neutral"]
VERDICTS: frozenset[str] = frozenset({"correct", "incorrect", "neutral"})
StepKind = Literal["reasoning", "action"]
_KINDS = frozenset({"reasoning", "action"})


@dataclass(slots=True)
class Cost:
    """What producing a label cost: model calls, tokens in and out, wall seconds."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.calls + other.calls,
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.seconds + other.seconds,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "seconds": self.seconds,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Cost:
        _expect(d, dict, "cost")
        try:
            return Cost(
                int(d.get("calls", 0)),
                int(d.get("tokens_in", 0)),
                int(d.get("tokens_out", 0)),
                float(d.get("seconds", 0.0)),
            )
        except (TypeError, ValueError, OverflowError) as e:  # e.g. "calls": "many"
            raise SchemaError(f"cost fields must be numbers: {e}") from None


@dataclass(slots=True, frozen=True)
class GraderRef:
    """Which grader wrote a label: its registered name and the hash of its configuration."""

    name: str
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "hash": self.hash}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GraderRef:
        _expect(d, dict, "grader")
        name = d.get("name")
        _expect(name, str, "grader.name")
        return GraderRef(name, str(d.get("hash", "")))


@dataclass(slots=True)
class Label:
    """One grader's judgement of one step.

    ``score`` is a probability of correctness, or an advantage where the grader says so
    (``extra["kind"] == "advantage"``). ``verdict`` is None when the grader could not decide
    (nothing checkable, unparseable judge output, a step after the first error).
    """

    score: float | None = None
    verdict: Verdict | None = None
    rationale: str | None = None
    cost: Cost | None = None
    grader: GraderRef | None = None
    extra: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"score": self.score, "verdict": self.verdict}
        if self.rationale is not None:
            d["rationale"] = self.rationale
        if self.cost is not None:
            d["cost"] = self.cost.to_dict()
        if self.grader is not None:
            d["grader"] = self.grader.to_dict()
        if self.extra:
            d["extra"] = self.extra
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], where: str = "label") -> Label:
        # Fast path (the common {"score": float|None, "verdict": ...} label): same checks,
        # fewer calls; anything else takes the general path, which words the errors.
        if type(d) is dict and len(d) == 2:
            score = d.get("score", 0)
            verdict = d.get("verdict", 0)
            if (score is None or type(score) is float) and (
                verdict is None or (type(verdict) is str and verdict in VERDICTS)
            ):
                return Label(score, verdict)
        _expect(d, dict, where)
        score = d.get("score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise SchemaError(f"{where}.score must be a number or null, got {_tname(score)}")
            score = float(score)
        verdict = d.get("verdict")
        if verdict is not None and (not isinstance(verdict, str) or verdict not in VERDICTS):
            raise SchemaError(
                f"{where}.verdict must be one of correct/incorrect/neutral or null, got {verdict!r}"
            )
        rationale = d.get("rationale")
        if rationale is not None:
            _expect(rationale, str, f"{where}.rationale")
        cost = d.get("cost")
        grader = d.get("grader")
        extra = d.get("extra")
        if extra is not None:
            _expect(extra, dict, f"{where}.extra")
        return Label(
            score,
            verdict,
            rationale,
            Cost.from_dict(cost) if cost is not None else None,
            GraderRef.from_dict(grader) if grader is not None else None,
            extra,
        )


@dataclass(slots=True)
class Step:
    """One step: a piece of reasoning, or an action with the observation it produced."""

    index: int
    text: str
    kind: StepKind = "reasoning"
    observation: str | None = None
    thought: str | None = None
    labels: dict[str, Label] = field(default_factory=dict)
    # Format-specific extras a round trip must keep (tool call ids, PRM800K alternatives...).
    meta: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "text": self.text, "kind": self.kind}
        if self.observation is not None:
            d["observation"] = self.observation
        if self.thought is not None:
            d["thought"] = self.thought
        if self.labels:
            labels = {}
            for k, v in self.labels.items():
                if v.rationale is None and v.cost is None and v.grader is None and not v.extra:
                    labels[k] = {"score": v.score, "verdict": v.verdict}  # Label.to_dict, inlined
                else:
                    labels[k] = v.to_dict()
            d["labels"] = labels
        if self.meta:
            d["meta"] = self.meta
        return d

    @staticmethod
    def from_dict(d: dict[str, Any], position: int) -> Step:
        # Fast path: one lookup per field and exact type checks; a record that fails any
        # check falls through to the general path below, which says what is wrong.
        if type(d) is dict:
            get = d.get
            text = get("text")
            index = get("index", position)
            kind = get("kind", "reasoning")
            observation = get("observation")
            thought = get("thought")
            raw_labels = get("labels")
            meta = get("meta")
            if (
                type(text) is str
                and type(index) is int
                and type(kind) is str
                and kind in _KINDS
                and (observation is None or type(observation) is str)
                and (thought is None or type(thought) is str)
                and (meta is None or type(meta) is dict)
                and (not raw_labels or type(raw_labels) is dict)
            ):
                labels: dict[str, Label] | None = {}
                if raw_labels:
                    for k, v in raw_labels.items():
                        # the common two-key label inline (Label.from_dict's fast path)
                        if type(v) is dict and len(v) == 2:
                            score = v.get("score", 0)
                            verdict = v.get("verdict", 0)
                            if (score is None or type(score) is float) and (
                verdict is None or (type(verdict) is str and verdict in VERDICTS)
            ):
                                labels[k] = Label(score, verdict)  # type: ignore[index]
                                continue
                        try:
                            labels[k] = Label.from_dict(v, "")  # type: ignore[index]
                        except SchemaError:
                            labels = None  # the general path below re-raises it with context
                            break
                if labels is not None:
                    return Step(index, text, kind, observation, thought, labels, meta)
        where = f"step {position}"
        if not isinstance(d, dict):
            raise SchemaError(f"{where} must be an object, got {_tname(d)}", step=position)
        text = d.get("text")
        if text is None:
            raise SchemaError(f"{where} has no text", step=position)
        if not isinstance(text, str):
            raise SchemaError(f"{where}.text must be a string, got {_tname(text)}", step=position)
        index = d.get("index", position)
        if isinstance(index, bool) or not isinstance(index, int):
            raise SchemaError(f"{where}.index must be an integer, got {_tname(index)}", step=position)
        kind = d.get("kind", "reasoning")
        if not isinstance(kind, str) or kind not in _KINDS:
            raise SchemaError(f"{where}.kind must be reasoning or action, got {kind!r}", step=position)
        observation = d.get("observation")
        if observation is not None and not isinstance(observation, str):
            raise SchemaError(
                f"{where}.observation must be a string, got {_tname(observation)}", step=position
            )
        thought = d.get("thought")
        if thought is not None and not isinstance(thought, str):
            raise SchemaError(f"{where}.thought must be a string, got {_tname(thought)}", step=position)
        raw_labels = d.get("labels")
        labels: dict[str, Label] = {}
        if raw_labels:
            if not isinstance(raw_labels, dict):
                raise SchemaError(f"{where}.labels must be an object, got {_tname(raw_labels)}", step=position)
            try:
                labels = {k: Label.from_dict(v, f"{where}.labels.{k}") for k, v in raw_labels.items()}
            except SchemaError as e:
                raise SchemaError(e.reason, step=position) from None
        meta = d.get("meta")
        if meta is not None and not isinstance(meta, dict):
            raise SchemaError(f"{where}.meta must be an object, got {_tname(meta)}", step=position)
        return Step(index, text, kind, observation, thought, labels, meta)


@dataclass(slots=True)
class Outcome:
    """How the trajectory ended: its final answer and whether that answer is right."""

    answer: str | None = None
    correct: bool | None = None
    reward: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "correct": self.correct, "reward": self.reward}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Outcome:
        _expect(d, dict, "outcome")
        answer = d.get("answer")
        if answer is not None and not isinstance(answer, str):
            raise SchemaError(f"outcome.answer must be a string or null, got {_tname(answer)}")
        correct = d.get("correct")
        if correct is not None and not isinstance(correct, bool):
            raise SchemaError(f"outcome.correct must be true, false or null, got {_tname(correct)}")
        reward = d.get("reward")
        if reward is not None:
            if isinstance(reward, bool) or not isinstance(reward, (int, float)):
                raise SchemaError(f"outcome.reward must be a number or null, got {_tname(reward)}")
            reward = float(reward)
        return Outcome(answer, correct, reward)


@dataclass(slots=True)
class Trajectory:
    """A multi-step attempt at one task, with per-step labels keyed by grader name.

    ``task`` is the problem text, or for agents the list of chat messages (system, user)
    that set the task. ``meta`` holds provenance (source, generator, world, seed...).
    """

    id: str
    task: str | list[dict[str, Any]]
    steps: list[Step]
    outcome: Outcome = field(default_factory=Outcome)
    reference: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # ---- derived views (never stored) ------------------------------------------------

    def label_names(self) -> list[str]:
        """Names of every label present on any step, in first-seen order."""
        seen: dict[str, None] = {}
        for s in self.steps:
            for k in s.labels:
                seen.setdefault(k, None)
        return list(seen)

    def first_error(self, label: str) -> int | None:
        """0-based index of the first step whose ``label`` verdict is incorrect.

        Returns -1 when every step carries that label and none is incorrect (the
        ProcessBench convention), and None when the label is missing before any error
        (the grader did not decide, so there is no first error to report).
        """
        for i, s in enumerate(self.steps):
            lab = s.labels.get(label)
            if lab is None or lab.verdict is None:
                return None
            if lab.verdict == "incorrect":
                return i
        return -1

    def scores(self, label: str) -> list[float | None]:
        """Per-step scores of one label (None where a step lacks it)."""
        out: list[float | None] = []
        for s in self.steps:
            lab = s.labels.get(label)
            out.append(None if lab is None else lab.score)
        return out

    # ---- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "task": self.task,
            "steps": [s.to_dict() for s in self.steps],
            "outcome": self.outcome.to_dict(),
            "reference": self.reference,
            "meta": self.meta,
        }

    @staticmethod
    def from_dict(d: Any) -> Trajectory:
        """Build and validate a Trajectory from its dict form (raises SchemaError)."""
        if not isinstance(d, dict):
            raise SchemaError(f"a trajectory must be a JSON object, got {_tname(d)}")
        version = d.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise SchemaError(f"unsupported schema_version {version!r} (this stepsieve reads {SCHEMA_VERSION})")
        tid = d.get("id")
        if tid is None:
            raise SchemaError("missing required field 'id'")
        if isinstance(tid, bool) or not isinstance(tid, (str, int)):
            raise SchemaError(f"field 'id' must be a string, got {_tname(tid)}")
        tid = str(tid)
        if "task" not in d:
            raise SchemaError("missing required field 'task'", trajectory=tid)
        task = d["task"]
        if not isinstance(task, (str, list)):
            raise SchemaError(f"field 'task' must be a string or a list of messages, got {_tname(task)}", trajectory=tid)
        raw_steps = d.get("steps")
        if raw_steps is None:
            raise SchemaError("missing required field 'steps'", trajectory=tid)
        if not isinstance(raw_steps, list):
            raise SchemaError(f"field 'steps' must be a list, got {_tname(raw_steps)}", trajectory=tid)
        if not raw_steps:
            raise SchemaError("empty step list: a trajectory needs at least one step", trajectory=tid)
        steps = [Step.from_dict(s, i) for i, s in enumerate(raw_steps)]
        outcome = d.get("outcome")
        reference = d.get("reference")
        if reference is not None and not isinstance(reference, str):
            raise SchemaError(f"field 'reference' must be a string or null, got {_tname(reference)}", trajectory=tid)
        meta = d.get("meta") or {}
        if not isinstance(meta, dict):
            raise SchemaError(f"field 'meta' must be an object, got {_tname(meta)}", trajectory=tid)
        return Trajectory(
            tid,
            task,
            steps,
            Outcome.from_dict(outcome) if outcome is not None else Outcome(),
            reference,
            meta,
        )


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(v), type(v).__name__
    )


def _expect(v: Any, typ: type, where: str) -> None:
    if not isinstance(v, typ):
        want = {dict: "an object", str: "a string", list: "a list"}.get(typ, typ.__name__)
        raise SchemaError(f"{where} must be {want}, got {_tname(v)}")
