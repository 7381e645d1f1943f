"""A fast decoder of canonical JSONL lines: msgspec checks types in C, Python only builds records.

``Trajectory.from_dict(orjson.loads(line))`` spends most of its time in Python checking the
type of every field of every step and label. ``decode_line`` parses and type-checks a line
in one C pass (msgspec, into private mirror structs of the schema) and then only builds the
``Trajectory``/``Step``/``Label`` records. It accepts exactly the well-formed canonical
records and returns None for anything else — a malformed line, a wrong type, a missing
index, an id given as an integer, a Cost to coerce — so the caller takes the general path
(``orjson.loads`` + ``Trajectory.from_dict``), which either accepts the record the same
way or words the error with file and line. Where it accepts, the record equals the general
path's (tests/trajectory/test_fastjson.py proves it on canonical and perturbed records).

One guard keeps the two paths equal: msgspec reads integers outside [-2**63, 2**64) exactly
where orjson reads them as floats, so a line holding such an integer takes the general path
(a C ``translate`` of the line finds runs of 19+ digits; only then does a regex look closer).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from stepsieve.trajectory._record import SCHEMA_VERSION, Cost, GraderRef, Label, Outcome, Step, Trajectory

__all__ = ["available", "decode_line"]

try:
    import msgspec
except ImportError:  # pragma: no cover - msgspec is a dependency; without it the general path runs
    msgspec = None  # type: ignore[assignment]


if msgspec is not None:

    class _Label(msgspec.Struct, gc=False):
        score: float | None = None
        verdict: Literal["correct", "incorrect", "neutral"] | None = None
        rationale: str | None = None
        cost: Any = None  # rare: built (and coerced) by Cost.from_dict, as on the general path
        grader: Any = None
        extra: dict[str, Any] | None = None

    class _Step(msgspec.Struct, gc=False):
        index: int  # no default: a missing index defaults to the position (general path)
        text: str
        kind: Literal["reasoning", "action"] = "reasoning"
        observation: str | None = None
        thought: str | None = None
        labels: dict[str, _Label] | None = None
        meta: dict[str, Any] | None = None

    class _Outcome(msgspec.Struct, gc=False):
        answer: str | None = None
        correct: bool | None = None
        reward: float | None = None

    class _Trajectory(msgspec.Struct, gc=False):
        id: str
        task: str | list[Any]
        steps: list[_Step]
        outcome: _Outcome | None = None
        reference: str | None = None
        meta: dict[str, Any] | None = None  # null, [] or 0 also mean {}: general path
        schema_version: int = SCHEMA_VERSION

    _decode = msgspec.json.Decoder(_Trajectory).decode


def available() -> bool:
    """Whether the fast path can run (msgspec importable)."""
    return msgspec is not None


# Every byte to "x" but digits to "0": a run of 19 "0"s after translate is a long number.
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x78 for b in range(256))
_LONG = b"0" * 19
_INT19 = re.compile(rb"(?<![0-9.eE])-?[0-9]{19,}(?![0-9.eE])")  # not the digits of a float


def _has_wide_int(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer orjson reads as a float (strings may match: harmless)."""
    if _LONG not in raw.translate(_DIGITS):
        return False
    return any(not -(2**63) <= int(m.group()) < 2**64 for m in _INT19.finditer(raw))


def decode_line(raw: bytes) -> Trajectory | None:
    """The Trajectory of one canonical JSONL line, or None: take the general path."""
    try:
        m = _decode(raw)
    except Exception:  # malformed, wrong types, bad UTF-8: the general path says what
        return None
    if m.schema_version != SCHEMA_VERSION or not m.steps or _has_wide_int(raw):
        return None
    steps: list[Step] = []
    append = steps.append
    for s in m.steps:
        labels: dict[str, Label] = {}
        raw_labels = s.labels
        if raw_labels:
            for k, lab in raw_labels.items():
                cost = lab.cost
                grader = lab.grader
                if cost is not None or grader is not None:
                    try:
                        cost = Cost.from_dict(cost) if cost is not None else None
                        grader = GraderRef.from_dict(grader) if grader is not None else None
                    except Exception:
                        return None
                labels[k] = Label(lab.score, lab.verdict, lab.rationale, cost, grader, lab.extra)
        append(Step(s.index, s.text, s.kind, s.observation, s.thought, labels, s.meta))
    o = m.outcome
    outcome = Outcome() if o is None else Outcome(o.answer, o.correct, o.reward)
    return Trajectory(m.id, m.task, steps, outcome, m.reference, m.meta or {})
