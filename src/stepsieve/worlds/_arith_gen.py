"""Seeded generator of multi-step arithmetic word problems.

A problem is a start value and a chain of operations (+ − × and exact ÷), phrased through
one of several story templates. Values stay positive integers no larger than ``max_value`` so
the embedded policy (a character-level model of about a million parameters) can learn them;
the knobs widen or narrow the difficulty.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import orjson

from stepsieve._errors import ConfigError
from stepsieve.worlds._protocol import Task

__all__ = ["ArithKnobs", "generate_task", "task_id"]


@dataclass(frozen=True, slots=True)
class ArithKnobs:
    """Difficulty knobs of the ``arith`` generator."""

    min_ops: int = 2  # operations per problem, inclusive range
    max_ops: int = 8
    max_start: int = 15  # start value is drawn from 2..max_start
    max_addend: int = 15  # + and − operands are drawn from 2..max_addend
    max_factor: int = 4  # × and ÷ operands are drawn from 2..max_factor
    max_value: int = 60  # no intermediate value exceeds this

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise ConfigError(f"need 1 <= min_ops <= max_ops, got {self.min_ops}..{self.max_ops}")
        if self.max_start < 3 or self.max_addend < 2 or self.max_factor < 2:
            raise ConfigError("max_start must be >= 3, max_addend >= 2, max_factor >= 2")
        if self.max_value < self.max_start:
            raise ConfigError(f"max_value ({self.max_value}) must be >= max_start ({self.max_start})")

    @staticmethod
    def of(ops: int | tuple[int, int] | None = None, **kw: int) -> ArithKnobs:
        """Knobs from an ``ops`` count or (min, max) range plus any other field."""
        if ops is not None:
            lo, hi = (ops, ops) if isinstance(ops, int) else ops
            kw = {**kw, "min_ops": lo, "max_ops": hi}
        unknown = set(kw) - set(ArithKnobs.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown arith knob(s): {', '.join(sorted(unknown))}")
        return ArithKnobs(**kw)


# Stories: (subject, pronoun, item). Each operation is phrased by one of several sentences.
_STORIES = [
    ("Mia", "She", "apples"),
    ("Tom", "He", "marbles"),
    ("Lena", "She", "stickers"),
    ("Omar", "He", "coins"),
    ("A baker", "He", "rolls"),
    ("Ana", "She", "shells"),
    ("A farmer", "She", "eggs"),
    ("Sam", "He", "cards"),
]
_OPEN = ["{S} has {n} {item}.", "{S} starts with {n} {item}.", "{S} owns {n} {item}."]
# Short sentences on purpose: the embedded policy reads every character of them.
_PHRASES = {
    "+": ["{P} gets {b} more.", "{P} finds {b} more.", "{P} buys {b} more."],
    "-": ["{P} gives away {b}.", "{P} loses {b}.", "{P} sells {b}."],
    "*": ["{P} multiplies them by {b}.", "{P} gets {b} times as many.", "The {item} grow {b} times."],
    "/": ["{P} divides them by {b}.", "{P} splits them into {b} and keeps one part.", "{P} keeps 1 in {b}."],
}
_ASK = ["How many {item} now?", "How many are left?", "How many {item} at the end?"]


def _pick_op(rng: random.Random, v: int, k: ArithKnobs) -> tuple[str, int]:
    """A feasible (op, operand) for current value ``v``: results stay in 1..max_value."""
    choices: list[tuple[str, list[int]]] = []
    add = [b for b in range(2, k.max_addend + 1) if v + b <= k.max_value]
    sub = [b for b in range(2, k.max_addend + 1) if v - b >= 1]
    mul = [b for b in range(2, k.max_factor + 1) if v * b <= k.max_value]
    div = [b for b in range(2, k.max_factor + 1) if v % b == 0 and v // b >= 1]
    for op, cand in (("+", add), ("-", sub), ("*", mul), ("/", div)):
        if cand:
            choices.append((op, cand))
    op, cand = rng.choice(choices)
    return op, rng.choice(cand)


def _apply(v: int, op: str, b: int) -> int:
    return {"+": v + b, "-": v - b, "*": v * b, "/": v // b}[op]


def task_id(data: dict) -> str:
    """A stable id from the task's content, so equal tasks share an id across runs."""
    return "arith-" + hashlib.sha1(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


def generate_task(rng: random.Random, k: ArithKnobs) -> Task:
    """One task drawn from ``rng``: structured data, problem text and exact answer."""
    n_ops = rng.randint(k.min_ops, k.max_ops)
    v = rng.randint(2, k.max_start)
    start = v
    ops: list[list] = []
    for _ in range(n_ops):
        op, b = _pick_op(rng, v, k)
        ops.append([op, b])
        v = _apply(v, op, b)
    subject, pronoun, item = rng.choice(_STORIES)
    fill = {"S": subject, "P": pronoun, "item": item}
    parts = [rng.choice(_OPEN).format(n=start, **fill)]
    for op, b in ops:
        parts.append(rng.choice(_PHRASES[op]).format(b=b, **fill))
    parts.append(rng.choice(_ASK).format(**fill))
    problem = " ".join(parts)
    data = {"start": start, "ops": ops}
    return Task(task_id({**data, "problem": problem}), problem, str(v), data)
