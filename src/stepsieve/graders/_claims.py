"""Finding and checking the equality claims a reasoning step makes.

A claim is a chain ``e0 = e1 = e2 ...`` (or ``≈``). Each adjacent pair is checked exactly
with ``_mathparse`` (sympy rationals). The extraction is deliberately conservative, because
a false "this step is wrong" is worse than silence — the ``rules`` grader abstains on
anything it cannot read with confidence:

- LaTeX is normalised first (``\\text{...}`` units dropped, ``\\frac{a}{b}``, ``\\times``, ``\\cdot``, ``\\div``, ``\\sqrt``,
  ``\\left``/``\\right``, ``\\boxed``); ``$`` (money) and thousands separators are dropped.
- In plain text only digits and operators form expressions (``3 apples = 3`` is never
  read); letters are variables only inside LaTeX math (``\\( ... \\)``, ``\\[ ... \\]``).
- A side preceded by a word that continues an expression leftwards ("half **of** 10 = 5",
  "3 **times** 4 + 2 = 14") is dropped: its visible part is not the whole operand.
- A pair of two bare numbers (``10 = 5``) is not a claim (it is usually a unit or a
  paraphrase); at least one side must contain an operator.
- A running chain (``18 - 6 = 12 + 6 = 18``, sloppy but common) is read as two claims when
  the right side starts with the value of the left side.
- A decimal literal is compared after rounding to its shown digits (``10/3 = 3.33``); ``≈``
  also rounds integers.
- With variables, a pair is checked only when it is decidable without knowing the
  variables: an identity (difference 0: correct) or a contradiction (difference a non-zero
  constant: wrong). ``2x + 3 = 7`` is a condition, not a claim, and is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from stepsieve.graders._mathparse import Parsed, Unparseable, parse_expression

__all__ = ["Claim", "check_claims", "normalize_latex"]

_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
_WRAP = re.compile(r"\\(?:boxed|textbf|mathbf)\s*\{([^{}]*)\}")
_WORDS = re.compile(r"\\(?:text|mathrm|operatorname|mbox)\s*\{[^{}]*\}")  # units and labels
_MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]|\$\$(.*?)\$\$", re.S)
_REPL = [
    (re.compile(r"\\times|\\cdot|[×·∗]"), "*"),
    (re.compile(r"\\div|÷"), "/"),
    (re.compile(r"\\approx|≈|~="), "≈"),
    (re.compile(r"\\left|\\right|\\[,;:! ]|\\quad|\\qquad"), " "),
    (re.compile(r"−|–(?=\s*\d)"), "-"),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$|\$"), ""),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    (re.compile(r"(?<=\d)\s*[xX]\s*(?=\d)"), " * "),  # 3 x 4
    (re.compile(r"\.(?=\s|$)"), " ; "),  # a sentence's full stop is not a decimal point
]
_CONTINUES = frozenset(
    "of times by x plus minus multiplied divided over per than into half twice double "
    "triple thrice third thirds quarter quarters fourth fifth tenth percent squared cubed each".split()
)
_EXPR = re.compile(r"[0-9.+\-*/^()%√=≈\s]+")
_EXPR_VARS = re.compile(r"[0-9A-Za-z.+\-*/^()%√=≈\s]+")


@dataclass(frozen=True, slots=True)
class Claim:
    """One checked pair: the text as read, whether it holds, and why not when it does not."""

    text: str
    holds: bool
    detail: str = ""


def normalize_latex(text: str) -> str:
    """Rewrite the LaTeX and typography of a step into the parser's plain notation."""
    for _ in range(6):  # nested \frac{\frac{..}{..}}{..}: innermost first
        new = _FRAC.sub(r"((\1)/(\2))", text)
        new = _SQRT.sub(r"√(\1)", new)
        new = _WRAP.sub(r" \1 ", new)
        new = _WORDS.sub(" ", new)
        if new == text:
            break
        text = new
    for pat, rep in _REPL:
        text = pat.sub(rep, text)
    return text.replace("{", "(").replace("}", ")")


def _balance(side: str) -> str:
    """Strip unmatched parentheses at the edges ("(so 3 + 4 = 7)" leaves "3 + 4" and "7)")."""
    side = side.strip()
    while side.endswith(")") and side.count(")") > side.count("("):
        side = side[:-1].rstrip()
    while side.startswith("(") and side.count("(") > side.count(")"):
        side = side[1:].lstrip()
    return side


def _equal(a: Parsed, b: Parsed, approx: bool) -> bool | None:
    if a.value.free_symbols or b.value.free_symbols:
        diff = sympy.expand(a.value - b.value)
        if diff == 0:
            return True
        return False if diff.is_number else None  # else: a condition on the variables
    for lit, other in ((b, a), (a, b)):
        if lit.percent and not other.percent and other.value == lit.value * 100:
            return True  # "0.7 * 100 = 70%": the conversion idiom
        rounded = lit.decimals is not None or approx  # 3.33 stands for 10/3; ≈ rounds too
        if rounded and not lit.compound:
            tol = sympy.Rational(1, 2) / 10 ** (lit.decimals or 0)
            return bool(abs(other.value - lit.value) <= tol * (1 + sympy.Rational(1, 10**6)))
    d = a.value - b.value
    return bool(d == 0) if d.is_Rational else bool(sympy.simplify(d) == 0)


def _chain(span: str, drop_first: bool, drop_last: bool, allow_vars: bool) -> list[Claim]:
    parts = re.split(r"(=|≈)", span)
    sides = parts[0::2]
    rels = parts[1::2]
    parsed: list[Parsed | None] = []
    for k, side in enumerate(sides):
        side = _balance(side.replace(";", " "))
        if not side or (k == 0 and drop_first) or (k == len(sides) - 1 and drop_last):
            parsed.append(None)
            continue
        try:
            parsed.append(parse_expression(side, allow_vars))
        except Unparseable:
            parsed.append(None)
    out = []
    for k, rel in enumerate(rels):
        a, b = parsed[k], parsed[k + 1]
        if a is None or b is None or not (a.compound or b.compound):
            continue
        ok = _equal(a, b, rel == "≈")
        if ok is None:
            continue
        text = f"{_balance(sides[k])} {rel} {_balance(sides[k + 1])}"
        if not ok and b.compound and b.lead is not None and not a.value.free_symbols and b.lead == a.value:
            continue  # running chain: "18 - 6 = 12 + 6" means "= 12, then 12 + 6"
        detail = "" if ok else f"left side is {_show(a.value)}, right side is {_show(b.value)}"
        out.append(Claim(text, ok, detail))
    return out


def _show(v: sympy.Expr) -> str:
    if v.free_symbols:
        return str(v)
    if v.is_Rational and v.q == 1:
        return str(v.p)
    return str(v) if v.is_Rational else f"{float(v):.6g}"


def _spans(text: str, pattern: re.Pattern[str], allow_vars: bool) -> list[Claim]:
    claims: list[Claim] = []
    for m in pattern.finditer(text):
        span = m.group(0)
        if "=" not in span and "≈" not in span:
            continue
        before = re.search(r"([A-Za-z]+)\W*$", text[: m.start()])
        after = re.match(r"\s*([A-Za-z%]+)", text[m.end() :])
        drop_first = bool(before and before.group(1).lower() in _CONTINUES and not span.lstrip().startswith(("=", "≈")))
        drop_last = bool(after and after.group(1).lower() in _CONTINUES)
        claims += _chain(span, drop_first, drop_last, allow_vars)
    return claims


def check_claims(step_text: str) -> list[Claim]:
    """Every checkable equality claim of a step, each with whether it holds."""
    claims: list[Claim] = []
    plain = []
    last = 0
    for m in _MATH.finditer(step_text):
        plain.append(step_text[last : m.start()])
        plain.append(" ; ")
        inner = normalize_latex(next(g for g in m.groups() if g is not None))
        claims += _spans(inner, _EXPR_VARS if re.search(r"[A-Za-z]", inner) else _EXPR, True)
        last = m.end()
    plain.append(step_text[last:])
    claims += _spans(normalize_latex("".join(plain)), _EXPR, False)
    return claims
