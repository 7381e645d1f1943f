"""Safe, format-tolerant parsing of arithmetic solution lines.

Model text is untrusted: lines are normalised and matched with regular expressions, never
evaluated. Tolerated variants: surrounding spaces, ``x``/``X``/``*``/``×``/``·`` for times,
``/``/``÷`` for division, unicode minus signs, thousands separators, a trailing period,
a ``Step 3:`` / ``3.`` / ``3)`` numbering prefix, and answer lines such as ``Answer: 47``,
``The answer is 47`` or ``#### 47``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Equation", "apply_op", "format_number", "parse_answer_line", "parse_equation"]

_NUM = r"-?\d+"
_PREFIX = re.compile(r"^\s*(?:step\s*\d+\s*[:.)\-]?|\d+\s*[.)](?!\d)|\d+\s*:)\s*", re.IGNORECASE)
_TIMES = re.compile(r"(?<=\d)\s*[xX×·∗]\s*(?=-?\d)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_EQUATION = re.compile(rf"^({_NUM})\s*([-+*/])\s*({_NUM})\s*=\s*({_NUM})$")
_ANSWER = re.compile(
    rf"^(?:(?:the\s+)?(?:final\s+)?answer(?:\s+is)?\s*[:=]?|####)\s*({_NUM})$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Equation:
    """One parsed step ``a op b = c`` (op is one of ``+ - * /``)."""

    a: int
    op: str
    b: int
    c: int


def _normalise(line: str) -> str:
    s = line.strip()
    s = s.replace("−", "-").replace("–", "-").replace("—", "-")
    s = s.replace("÷", "/").replace("＝", "=")
    s = _THOUSANDS.sub("", s)
    s = _TIMES.sub(" * ", s)
    s = s.rstrip(" .;!")
    return re.sub(r"\s+", " ", s).strip()


def parse_equation(line: str) -> Equation | None:
    """The equation a step states, or None when the line is not one ``a op b = c``."""
    s = _normalise(line)
    m = _EQUATION.match(s) or _EQUATION.match(_PREFIX.sub("", s, count=1))
    if m is None:
        return None
    return Equation(int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)))


def parse_answer_line(line: str) -> int | None:
    """The number a final-answer line states, or None when the line is not an answer line."""
    s = _normalise(line)
    m = _ANSWER.match(s) or _ANSWER.match(_PREFIX.sub("", s, count=1))
    return int(m.group(1)) if m else None


def apply_op(a: int | Fraction, op: str, b: int | Fraction) -> Fraction | None:
    """Exact result of ``a op b`` (None for division by zero)."""
    a, b = Fraction(a), Fraction(b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return None if b == 0 else a / b
    raise ValueError(f"unknown operation {op!r}")


def format_number(x: Fraction | int) -> str:
    """An integer as digits, a non-integer as a reduced fraction ``p/q``."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
