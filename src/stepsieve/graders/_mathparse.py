"""A safe parser for the arithmetic and simple algebra written in reasoning steps.

Model text is untrusted, so nothing here calls ``eval``, ``sympify`` or ``parse_expr`` on
it: a small recursive-descent parser builds sympy objects (exact rationals, symbols,
``sqrt``) from a whitelist of tokens. Sizes are bounded (length, nesting, exponents) so a
hostile step cannot make the grader hang.

Grammar (``^`` and ``**`` are powers, juxtaposition multiplies: ``2x``, ``3(4+1)``)::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/') unary | <juxtaposed> power)*
    unary  := ('-' | '+') unary | power
    power  := atom '!'? ('^' unary)?
    atom   := NUMBER '%'? | VAR | NAME | 'π' | '(' expr ')' | '√' atom | '⊙' atom atom

``NAME`` is ``⟨id⟩``, an opaque named quantity the claim extractor made of ``\text{...}``,
a subscripted variable (``r_i``) or a function application (``f(0)``): it is a symbol, so a
claim involving it is decided only when the names cancel. ``⊙`` is a binomial coefficient,
``!`` a factorial (math mode only); both need small non-negative integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

__all__ = ["Parsed", "Unparseable", "parse_expression"]

_MAX_LEN = 240
_MAX_DEPTH = 30
_MAX_EXP = 64
_MAX_FACTORIAL = 100
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\*\*|[-+*/^()%√π⊙!])|([A-Za-z]|⟨[^⟨⟩]{1,80}⟩))")


class Unparseable(ValueError):
    """The text is not an expression this parser accepts: the claim is not checkable."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed side of a claim: its value, whether it is a compound expression (has an
    operator), the decimals of a bare decimal literal (for rounding tolerance), and the
    value of its leading operand (to recognise running chains like ``18-6 = 12+6 = 18``)."""

    value: sympy.Expr
    compound: bool
    decimals: int | None
    lead: sympy.Expr | None
    percent: bool = False  # a bare "70%" literal
    inexact: bool = False  # a compound side using a decimal of 2+ places (likely a rounded value)


def _tokens(text: str, allow_vars: bool) -> list[str]:
    if len(text) > _MAX_LEN:
        raise Unparseable("too long")
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise Unparseable(f"unexpected {text[pos]!r}")
        if (m.group(3) or m.group(2) in ("!", "⊙")) and not allow_vars:
            raise Unparseable("variables are not allowed here")
        out.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    if not out:
        raise Unparseable("empty")
    return out


class _Parser:
    def __init__(self, toks: list[str]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.ops = 0
        self.lead: sympy.Expr | None = None

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise Unparseable("ends too early")
        self.i += 1
        return tok

    def expr(self) -> sympy.Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise Unparseable("nested too deeply")
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            self.ops += 1
            rhs = self.term()
            v = v + rhs if op == "+" else v - rhs
        self.depth -= 1
        return v

    def term(self) -> sympy.Expr:
        v = self.unary()
        if self.lead is None and self.depth == 1:
            self.lead = v  # the leading operand at top level
        while True:
            tok = self.peek()
            if tok in ("*", "/"):
                self.take()
                self.ops += 1
                rhs = self.unary()
                if tok == "/":
                    if rhs == 0:
                        raise Unparseable("division by zero")
                    v = v / rhs
                else:
                    v = v * rhs
            elif tok is not None and (tok in ("(", "√", "π", "⊙") or tok.isalpha() or tok[0] == "⟨"):
                self.ops += 1  # juxtaposition: 2x, 3(4 + 1)
                v = v * self.power()
            else:
                return v

    def unary(self) -> sympy.Expr:
        tok = self.peek()
        if tok in ("-", "+"):
            self.take()
            v = self.unary()
            return -v if tok == "-" else v
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() == "!":
            self.take()
            self.ops += 1
            if not (base.is_Integer and 0 <= base <= _MAX_FACTORIAL):
                raise Unparseable("factorial of a non-integer or a large number")
            base = sympy.factorial(base)
        if self.peek() in ("^", "**"):
            self.take()
            self.ops += 1
            exp = self.unary()
            if exp.free_symbols or not exp.is_Rational or abs(exp) > _MAX_EXP:
                raise Unparseable("exponent must be a rational number of at most 64")
            return sympy.Pow(base, exp)
        return base

    def atom(self) -> sympy.Expr:
        tok = self.take()
        v: sympy.Expr
        if tok == "(":
            v = self.expr()
            if self.take() != ")":
                raise Unparseable("missing ')'")
            return v
        if tok == "√":
            self.ops += 1
            return sympy.sqrt(self.atom())
        if tok == "π":
            return sympy.pi
        if tok == "⊙":
            self.ops += 1
            n, k = self.atom(), self.atom()
            if not (n.is_Integer and k.is_Integer and 0 <= n <= 10**4 and k >= 0):
                raise Unparseable("binomial of non-integers")
            return sympy.binomial(n, k)
        if tok[0] == "⟨":
            return sympy.Symbol(tok)
        if tok[0].isdigit() or tok[0] == ".":
            v = sympy.Rational(tok.rstrip(".") or "0")
            if self.peek() == "%":
                self.take()
                v = v / 100
            return v
        if tok.isalpha():
            return sympy.Symbol(tok)
        raise Unparseable(f"unexpected {tok!r}")


def parse_expression(text: str, allow_vars: bool = False) -> Parsed:
    """Parse one side of a claim (raises Unparseable when it is not a plain expression)."""
    toks = _tokens(text, allow_vars)
    p = _Parser(toks)
    value = p.expr()
    if p.peek() is not None:
        raise Unparseable(f"unexpected {p.peek()!r} after a complete expression")
    decimals = None
    if len(toks) == 1 and "." in toks[0]:
        decimals = len(toks[0].split(".")[1])
    percent = len(toks) == 2 and toks[1] == "%"
    if "%" in toks and not percent and any(t in ("+", "-") for t in toks):
        nums = [i for i, t in enumerate(toks) if t[0].isdigit() or t[0] == "."]
        if any(i + 1 >= len(toks) or toks[i + 1] != "%" for i in nums):
            raise Unparseable("a percentage added to a plain number (50 + 20%) is ambiguous")
    inexact = p.ops > 0 and any("." in t and len(t.split(".")[1]) >= 2 for t in toks if t[0].isdigit())
    return Parsed(value, p.ops > 0, decimals, p.lead if p.ops > 0 else None, percent, inexact)
