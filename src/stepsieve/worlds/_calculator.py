"""An exact calculator for the ``toolcalc`` world: a small recursive-descent parser over
integers, ``+ - * /`` and parentheses, computing with Fractions.

Agent output is untrusted, so expressions are tokenised and parsed here, never evaluated by
Python; length and nesting are bounded so a hostile expression cannot exhaust memory.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["CalculatorError", "calculate"]

_MAX_LEN = 200
_MAX_DEPTH = 20
_MAX_DIGITS = 30
_TOKEN = re.compile(r"\s*(\d+|[-+*/()xX×÷·])")
_ALIASES = {"x": "*", "X": "*", "×": "*", "·": "*", "÷": "/"}


class CalculatorError(ValueError):
    """The expression is malformed or cannot be computed (e.g. division by zero)."""


def _tokens(expr: str) -> list[str]:
    if len(expr) > _MAX_LEN:
        raise CalculatorError(f"expression longer than {_MAX_LEN} characters")
    out, pos = [], 0
    s = expr.strip().rstrip(".")
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if m is None:
            if s[pos:].strip() == "":
                break
            raise CalculatorError(f"unexpected character {s[pos]!r}")
        tok = m.group(1)
        if tok.isdigit() and len(tok) > _MAX_DIGITS:
            raise CalculatorError("number too long")
        out.append(_ALIASES.get(tok, tok))
        pos = m.end()
    if not out:
        raise CalculatorError("empty expression")
    return out


class _Parser:
    def __init__(self, toks: list[str]) -> None:
        self.toks, self.i, self.depth = toks, 0, 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise CalculatorError("expression ends too early")
        self.i += 1
        return tok

    def expr(self) -> Fraction:
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            v = v + rhs if op == "+" else v - rhs
        return v

    def term(self) -> Fraction:
        v = self.factor()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.factor()
            if op == "/" and rhs == 0:
                raise CalculatorError("division by zero")
            v = v * rhs if op == "*" else v / rhs
            if abs(v.numerator) > 10**60 or v.denominator > 10**60:
                raise CalculatorError("result too large")
        return v

    def factor(self) -> Fraction:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise CalculatorError("expression nested too deeply")
        try:
            tok = self.take()
            if tok == "-":
                return -self.factor()
            if tok == "(":
                v = self.expr()
                if self.take() != ")":
                    raise CalculatorError("missing ')'")
                return v
            if tok.isdigit():
                return Fraction(int(tok))
            raise CalculatorError(f"unexpected {tok!r}")
        finally:
            self.depth -= 1


def calculate(expr: str) -> Fraction:
    """The exact value of ``expr`` (raises CalculatorError when it cannot be computed)."""
    p = _Parser(_tokens(expr))
    v = p.expr()
    if p.peek() is not None:
        raise CalculatorError(f"unexpected {p.peek()!r} after a complete expression")
    return v
