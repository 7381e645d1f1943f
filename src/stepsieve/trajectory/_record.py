"""The canonical record: Trajectory, Step, Label, Outcome, Cost, GraderRef.

Every stage of stepsieve reads and writes these; adapters in ``stepsieve.formats`` are the
only code that knows a foreign layout. The record is defined **once**, here, as msgspec
Structs: msgspec validates a JSON line straight into these types in one C pass, the JSON
layout is these fields in this order (``Step`` and ``Label`` leave out fields that hold
their default), and the Arrow schema for Parquet is derived from the same definition
(``_arrow.arrow_schema``). Adding a field is a change to this file.

A wrong type or missing field raises ``SchemaError`` with the field's path, e.g.
``Expected `str`, got `int` - at `$.steps[3].text``` (the reader adds file and line).
Schema version 1 files keep loading: version 1 is the same layout, and the lenient forms
version 1 accepted (an integer id, a step without index, ``meta: null``, ``outcome: null``) are
upgraded on read (``_upgrade_v1``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

from stepsieve._errors import SchemaError

__all__ = [
    "SCHEMA_VERSION",
    "VERDICTS",
    "Action",
    "ActionType",
    "Cost",
    "GraderRef",
    "Label",
    "MediaRef",
    "Outcome",
    "Point",
    "Step",
    "StepKind",
    "Trajectory",
    "Verdict",
    "decode_json",
    "encode_json",
]

SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)

Verdict = Literal["correct", "incorrect", "neutral"]
VERDICTS: frozenset[str] = frozenset({"correct", "incorrect", "neutral"})
StepKind = Literal["reasoning", "action"]

# Where a field's value has no fixed Arrow type, the Parquet column holds its JSON text;
# ``json_column`` names the column a text-or-JSON union keeps its non-text values in.
_TEXT_OR_MESSAGES = msgspec.Meta(extra={"json_column": "task_messages"})


class Cost(msgspec.Struct, gc=False):
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
        return msgspec.structs.asdict(self)

    @staticmethod
    def from_dict(d: Any) -> Cost:
        return _convert(d, Cost, "cost")


class GraderRef(msgspec.Struct, frozen=True, gc=False):
    """Which grader wrote a label: its registered name and the hash of its configuration."""

    name: str
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)

    @staticmethod
    def from_dict(d: Any) -> GraderRef:
        return _convert(d, GraderRef, "grader")


ActionType = Literal[
    "tool", "click", "double_click", "drag", "keypress", "move", "screenshot", "scroll", "type", "wait", "done"
]


class Point(msgspec.Struct, gc=False):
    """A screen position in pixels."""

    x: int
    y: int


class Action(msgspec.Struct, omit_defaults=True, gc=False):
    """The machine form of one thing an action step does, beside the step's text.

    ``type="tool"`` is a tool (function) call: ``name``, ``arguments`` as the JSON text the
    model wrote (kept exactly, it may not even parse), ``id`` to pair it with its result. Any
    other type is a computer-use action in the vocabulary of OpenAI's ``computer_call``
    (click x/y/button, double_click x/y, drag path, keypress keys, move x/y, screenshot,
    scroll x/y/scroll_x/scroll_y, type text, wait), plus ``done``; ``id`` is the call id there
    too. A step may hold several (parallel tool calls).
    """

    type: ActionType
    name: str | None = None
    arguments: str | None = None
    id: str | None = None
    x: int | None = None
    y: int | None = None
    button: str | None = None
    text: str | None = None
    keys: list[str] | None = None
    scroll_x: int | None = None
    scroll_y: int | None = None
    path: list[Point] | None = None


MediaRole = Literal["before", "after"]
_SHA256 = msgspec.Meta(pattern="^[0-9a-f]{64}$")


class MediaRef(msgspec.Struct, omit_defaults=True, gc=False):
    """An image of a step's observation, stored beside the record file, never inlined.

    ``path`` is relative to the folder of the file that holds the record; in a stepsieve
    output it is content-addressed, ``OUT.media/ab/abcd….png`` (``stepsieve.media``).
    ``sha256`` and ``size`` are of the image's bytes: readers check them when they read the
    image. ``role`` says whether it shows the screen ``before`` or ``after`` the action.
    While a record is in memory between an importer and a writer, ``path`` may be a
    ``data:`` URL; writers move such images into the output's media folder.
    """

    path: str
    sha256: Annotated[str, _SHA256]
    size: int
    mime: str = "image/png"
    role: MediaRole | None = None


class Label(msgspec.Struct, omit_defaults=True, gc=False):
    """One grader's judgement of one step.

    ``score`` is a probability of correctness, or an advantage where the grader says so
    (``extra["kind"] == "advantage"``). ``verdict`` is None when the grader could not decide
    (nothing checkable, unparseable judge output, a step after the first error). ``extra``
    is grader-specific payload other stages read by contract (mc: ``{"n", "n_correct"}``).
    """

    score: float | None = None
    verdict: Verdict | None = None
    rationale: str | None = None
    cost: Cost | None = None
    grader: GraderRef | None = None
    extra: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)

    @staticmethod
    def from_dict(d: Any, where: str = "label") -> Label:
        return _convert(d, Label, where)


class Step(msgspec.Struct, omit_defaults=True, gc=False):
    """One step: a piece of reasoning, or an action with the observation it produced."""

    index: int
    text: str
    kind: StepKind = "reasoning"
    observation: str | None = None
    thought: str | None = None
    labels: dict[str, Label] = {}
    # Format-specific extras a round trip must keep (PRM800K alternatives, raw message fields...).
    meta: dict[str, Any] | None = None
    # What an action step does, in machine form (tool calls, computer-use actions).
    actions: list[Action] = []
    # Screenshots of the observation (before/after the action), stored beside the output.
    images: list[MediaRef] = []

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)

    @staticmethod
    def from_dict(d: Any, position: int) -> Step:
        """A step from its dict form; a missing ``index`` is the step's ``position``."""
        if isinstance(d, dict) and "index" not in d:
            d = {**d, "index": position}
        return _convert(d, Step, f"step {position}")


class Outcome(msgspec.Struct, gc=False):
    """How the trajectory ended: its final answer and whether that answer is right."""

    answer: str | None = None
    correct: bool | None = None
    reward: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)

    @staticmethod
    def from_dict(d: Any) -> Outcome:
        return _convert(d, Outcome, "outcome")


class Trajectory(msgspec.Struct, gc=False):
    """A multi-step attempt at one task, with per-step labels keyed by grader name.

    ``task`` is the problem text, or for agents the list of chat messages (system, user)
    that set the task. ``meta`` holds provenance (source, generator, world, seed...).
    """

    id: str
    task: Annotated[str | list[Any], _TEXT_OR_MESSAGES]
    steps: list[Step]
    outcome: Outcome = msgspec.field(default_factory=Outcome)
    reference: str | None = None
    meta: dict[str, Any] = {}
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            if self.schema_version not in _READABLE_VERSIONS:
                raise ValueError(
                    f"unsupported schema_version {self.schema_version!r} "
                    f"(this stepsieve reads {', '.join(map(str, _READABLE_VERSIONS))})"
                )
            self.schema_version = SCHEMA_VERSION  # read as the current version, written as it

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
        return msgspec.to_builtins(self)

    @staticmethod
    def from_dict(d: Any) -> Trajectory:
        """Build and validate a Trajectory from its dict form (raises SchemaError)."""
        try:
            return _nonempty(msgspec.convert(d, Trajectory))
        except msgspec.ValidationError as e:
            error = e
        version = d.get("schema_version") if isinstance(d, dict) else None
        if version is not None and version not in _READABLE_VERSIONS:  # its layout may be another
            raise SchemaError(f"unsupported schema_version {version!r} (this stepsieve reads 1, 2)")
        upgraded = _upgrade_v1(d)  # the lenient forms version 1 accepted
        if upgraded is not None:
            try:
                return _nonempty(msgspec.convert(upgraded, Trajectory))
            except msgspec.ValidationError as e:
                error = e  # what is wrong with the record as version 1 reads it
        raise _schema_error(str(error), d)


# ---- JSON -----------------------------------------------------------------------------

_decode = msgspec.json.Decoder(Trajectory).decode
_encoder = msgspec.json.Encoder()


def decode_json(raw: bytes) -> Trajectory | None:
    """The Trajectory of one canonical JSON text, or None: the caller parses ``raw`` with
    a general JSON parser and calls ``Trajectory.from_dict``, which upgrades a version 1
    record or says exactly what is wrong (so the error path is never the fast path)."""
    try:
        t = _decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return t if t.steps else None


def encode_json(t: Trajectory) -> bytes:
    """One record as compact JSON text (no newline)."""
    return _encoder.encode(t)


# ---- validation helpers ---------------------------------------------------------------


def _nonempty(t: Trajectory) -> Trajectory:
    if not t.steps:  # a record in a file needs a step; code may build one step by step
        raise SchemaError("empty step list: a trajectory needs at least one step", trajectory=t.id)
    return t


def _convert(d: Any, typ: type[Any], where: str) -> Any:
    try:
        return msgspec.convert(d, typ)
    except msgspec.ValidationError as e:
        raise SchemaError(f"{where}: {e}") from None


_STEP_AT = re.compile(r"\$\.steps\[(\d+)\]")


def _schema_error(message: str, d: Any) -> SchemaError:
    """A SchemaError from a msgspec message, with the step index and trajectory id it names."""
    if not isinstance(d, dict):
        return SchemaError(f"a trajectory must be a JSON object, got {_tname(d)}")
    m = _STEP_AT.search(message)
    tid = d.get("id")
    if message.startswith("Object missing required field") and "- at" not in message:
        message += " (a record of another layout needs --from FORMAT: see `stepsieve convert --help`)"
    return SchemaError(
        message,
        trajectory=str(tid) if isinstance(tid, (str, int)) and not isinstance(tid, bool) else None,
        step=int(m.group(1)) if m else None,
    )


def _upgrade_v1(d: Any) -> dict[str, Any] | None:
    """A version 1 record's lenient forms made canonical, or None when ``d`` is not a
    version 1 record (an unmarked record counts as one: it was written by hand)."""
    if not isinstance(d, dict) or d.get("schema_version", 1) != 1:
        return None
    out = dict(d)
    tid = out.get("id")
    if isinstance(tid, int) and not isinstance(tid, bool):
        out["id"] = str(tid)
    if not out.get("meta"):
        out["meta"] = {}
    if out.get("outcome") is None:
        out.pop("outcome", None)
    steps = out.get("steps")
    if isinstance(steps, list):
        out["steps"] = [
            {**s, "index": i} if isinstance(s, dict) and "index" not in s else s for i, s in enumerate(steps)
        ]
    return out


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(v), type(v).__name__
    )
