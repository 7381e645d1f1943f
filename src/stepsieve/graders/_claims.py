"""Finding and checking the claims a reasoning step makes.

A claim is a chain ``e0 = e1 ≈ e2 < e3 ...``; each adjacent pair is checked exactly with
``_mathparse`` (sympy rationals built by our own parser, never ``sympify`` of text). The
extraction is deliberately conservative, because a false "this step is wrong" is worse
than silence: **a side that is not understood in full is not read at all**, and the pair
it belongs to is skipped. How a step is read:

- Math (``\\( \\)``, ``\\[ \\]``, ``$$ $$``) is split into statements at ``\\quad``, top-level
  commas, ``\\text{or}``/``\\text{and}``/``\\text{so}``…, ``\\implies``, ``≠``, ``\\equiv``…, and each
  side of each relation must parse completely: a dropped variable (``D - 8 = 60 - 8``) or an
  unknown command makes the side unreadable, never a shorter expression.
- Named quantities become opaque symbols: ``\\text{Chenny's Age}`` as an operand, subscripted
  variables (``r_i``, ``a_{n+1}``), function applications (``f(0)``). A pair with a name on
  one side only is a condition, not a claim: it is decided only when the names cancel
  (``3(x+2) = 3x+6`` holds, ``3(x+2) = 3x+2`` does not).
- ``\\text{...}`` right after a number is a unit and is dropped (``5 \\text{ apples}``), unless
  it scales (dozen, hundred, percent…) or continues the expression (of, per, times…): then
  the side is unreadable. Mixed numbers ``2\\frac{6}{7}`` are 2 + 6/7; ``\\sqrt[3]{x}`` is
  ``x^(1/3)``; ``\\binom{n}{k}``, ``n!``, ``\\pi`` and degrees are understood.
- In plain text only digits and operators form expressions (``3 apples = 3`` is never
  read). An expression touching a word or symbol (``D - 8``, ``10:30 + 2``, ``f(0)``, ``= 4!``),
  starting with an operator, or preceded by a word that continues it ("half **of** 10 = 5")
  is cut short on that side: that side is dropped.
- Two bare numbers (``10 = 5``) are not a claim (usually a unit or a paraphrase).
- A running chain (``18 - 6 = 12 + 6 = 18``) is read as two claims when the right side
  starts with the value of the left side.
- Rounding is never an error: a decimal literal holds when it is the value rounded or
  truncated to its digits (``10/3 = 3.33``, ``2/3 = 0.66``, not ``10/3 = 3.4``); ``≈`` allows one
  unit of the last digit, of an integer's last non-zero digit (``1000/7 ≈ 140``) and 1 %
  between compound sides; a compound side computed from a rounded decimal (two or more
  places) holds within 1 %.
- Modular or base-n context (``mod``, ``\\equiv``, "remainder", "base", "units digit"… in
  the step or the text given as ``context``): false claims are not reported (``=`` may
  mean congruence there); true ones still count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from stepsieve.graders._mathparse import Parsed, Unparseable, parse_expression

__all__ = ["Claim", "check_claims", "normalize_latex"]

_MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]|\$\$(.*?)\$\$", re.S)
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_DIGITS = re.compile(r"\\[dt]?frac\s*(\d)(\d)")  # \frac12
_MIXED = re.compile(  # 2\frac{6}{7}, not 3 \cdot 2\frac{..} or x_2\frac{..}
    r"(?<![\d.)}⟩A-Za-z*/^_])(\d+)\s*\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}"
)
_ROOT_N = re.compile(r"\\sqrt\s*\[([^\[\]{}]*)\]\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*\{([^{}]*)\}")
_SQRT_BARE = re.compile(r"\\sqrt\s*(\d+|[A-Za-z])")
_BINOM = re.compile(r"\\[dt]?binom\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_WRAP = re.compile(r"\\(?:boxed|textbf|mathbf|bf|displaystyle|underline|overline\b(?=\{\d))\s*\{([^{}]*)\}")
_TEXT = re.compile(
    r"(?P<pre>[\d)}]?)(?P<gap>\s*(?:\\[,;: ]\s*)*)"
    r"\\(?:text|mathrm|operatorname|mbox|textit|textrm)\s*\{(?P<body>[^{}]*)\}"
)
_SUB = re.compile(r"(?<![A-Za-z\\])([A-Za-z])_(?:\{([^{}]{1,20})\}|([A-Za-z0-9]))")
_APPLY = re.compile(r"(?<![A-Za-z\\⟩])([A-Za-z])\(([^()]{1,40})\)")
_DEGREE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°")
_SEPARATOR_WORDS = frozenset(
    [
        "or", "and", "so", "then", "thus", "hence", "therefore", "where", "since", "because", "if", "which",
        "that", "gives", "we", "get", "is", "are", "implies", "means", "when", "while", "with", "for", "as",
        "but",
    ]
)
_CONTINUES = frozenset(
    [
        "of", "times", "by", "x", "plus", "minus", "multiplied", "divided", "over", "per", "than", "into",
        "half", "twice", "double", "triple", "thrice", "third", "thirds", "quarter", "quarters", "fourth",
        "fifth", "tenth", "percent", "squared", "cubed", "each", "mod", "modulo", "less", "more", "out",
    ]
)
_SCALES = frozenset(
    [
        "dozen", "dozens", "hundred", "hundreds", "thousand", "thousands", "million", "millions", "billion",
        "billions", "percent", "half", "score",
    ]
)
_REPL = [
    (re.compile(r"\\begin\s*\{[^{}]*\}|\\end\s*\{[^{}]*\}|&"), " "),
    (re.compile(r"\\\\(?=\s*=)"), " "),  # align: a line that continues the chain
    (re.compile(r"\\\\"), " ; "),
    (re.compile("\\\\times|\\\\cdot|[\u00d7\u00b7\u2217]"), "*"),
    (re.compile(r"\\div|÷"), "/"),
    (re.compile(r"\\approx|≈|~=|\\simeq"), "≈"),
    (re.compile(r"\\(?:leq?slant|leq?|le)(?![A-Za-z])|≤|<="), "≤"),
    (re.compile(r"\\(?:geq?slant|geq?|ge)(?![A-Za-z])|≥|>="), "≥"),
    (re.compile(r"\\lt(?![A-Za-z])"), "<"),
    (re.compile(r"\\gt(?![A-Za-z])"), ">"),
    (re.compile(r"\\(?:neq?|not\s*=|equiv|implies|iff|Rightarrow|Longrightarrow|rightarrow|to|"
                r"therefore|because|quad|qquad|in|notin|subset|subseteq|supset|cong|sim|propto|mapsto)"
                r"(?![A-Za-z])|[≠≡⟹⇒→∈∴∵]|:="), " ; "),
    (re.compile(r"\\pi(?![A-Za-z])"), "π"),
    (re.compile(r"\\left(?![A-Za-z])|\\right(?![A-Za-z])|\\[,;:! ]|\\[lc]?dots|\\cdots|\\ldots|…|~"),
     " "),
    (re.compile(r"\\\{|\\\}"), "¦"),  # set braces: not understood
    (re.compile("\u2212|\u2013(?=\\s*\\d)"), "-"),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\\\$|\$"), ""),
    (re.compile(r"(?<=\d),(?=\d{3}(?!\d))"), ""),
    (re.compile(r"(?<=\d)\s*[xX]\s*(?=\d)"), " * "),  # 3 x 4
    (re.compile(r"(?<=\d)\.{2,}"), " "),  # 3.333... : the digits shown are the rounding
    (re.compile(r"\.(?=\s|$)"), " ; "),  # a sentence's full stop is not a decimal point
]
_MODULAR = re.compile(
    r"\bmod(?:ulo|ular)?\b|\\[pb]?mod\b|\\equiv|≡|remainder|congruen|\bbase\b|units? digit|"
    r"last (?:two |three )?digits?|\d_\{?\d",
    re.IGNORECASE,
)
_RELATION = re.compile(r"(=|≈|≤|≥|<|>)")
_PLAIN_RUN = re.compile(r"[0-9.+\-*/^()%√π=≈≤≥<>\s]+")
_OPERATOR_START = re.compile(r"\s*[-+*/^]")


@dataclass(frozen=True, slots=True)
class Claim:
    """One checked pair: the text as read, whether it holds, and why not when it does not."""

    text: str
    holds: bool
    detail: str = ""


class _Names:
    """Opaque names of one step: the same text always gets the same symbol ``⟨n0⟩``."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        key = " ".join(text.lower().split())
        return self.ids.setdefault(key, f"⟨n{len(self.ids)}⟩")


def _mixed(m: re.Match[str]) -> str:
    whole, num, den = m.group(1), int(m.group(2)), int(m.group(3))
    if den == 0 or num >= den:
        return m.group(0).replace(m.group(1), f"{m.group(1)}*", 1)  # 3\frac{4}{2}: a product
    return f"({whole}+{num}/{den})"


def _text(m: re.Match[str], names: _Names) -> str:
    body = m.group("body").strip()
    words = re.findall(r"[A-Za-z%]+", body.lower())
    if m.group("pre"):  # right after an operand: a unit, unless it scales or continues the expression
        if not words or words[0] in _SEPARATOR_WORDS:
            return m.group("pre") + " ; "
        if any(w in _SCALES or w in _CONTINUES for w in words):
            return m.group("pre") + " ¦ "
        return m.group("pre") + " "
    if words and all(w in _SEPARATOR_WORDS for w in words):
        return " ; "
    if not body or re.fullmatch(r"[\s,.;:]*", body):
        return " ; "
    return m.group("gap") + names(body)


def normalize_latex(text: str, names: _Names | None = None) -> str:
    """Rewrite the LaTeX and typography of a step into the parser's plain notation
    (named quantities become ``⟨n…⟩`` symbols, unknown commands stay and are not parsed)."""
    names = names or _Names()
    text = _DEGREE.sub(" ", text)
    text = _FRAC_DIGITS.sub(r"\\frac{\1}{\2}", text)
    for _ in range(6):  # nested \frac{\frac{..}{..}}{..}: innermost first
        new = _MIXED.sub(_mixed, text)
        new = _FRAC.sub(r"((\1)/(\2))", new)
        new = _ROOT_N.sub(r"((\2)^(1/(\1)))", new)
        new = _SQRT.sub(r"√(\1)", new)
        new = _SQRT_BARE.sub(r"√\1", new)
        new = _BINOM.sub(r"⊙(\1)(\2)", new)
        new = _WRAP.sub(r" \1 ", new)
        new = _TEXT.sub(lambda m: _text(m, names), new)
        if new == text:
            break
        text = new
    for pat, rep in _REPL:
        text = pat.sub(rep, text)
    text = text.replace("{", "(").replace("}", ")")
    for _ in range(3):
        new = _SUB.sub(lambda m: names(f"{m.group(1)}_{m.group(2) or m.group(3)}"), text)
        new = _APPLY.sub(lambda m: names(f"{m.group(1)}({m.group(2)})"), new)
        if new == text:
            break
        text = new
    return text


def _balance(side: str) -> str:
    """Strip unmatched parentheses at the edges ("(so 3 + 4 = 7)" leaves "3 + 4" and "7)")."""
    side = side.strip()
    while side.endswith(")") and side.count(")") > side.count("("):
        side = side[:-1].rstrip()
    while side.startswith("(") and side.count("(") > side.count(")"):
        side = side[1:].lstrip()
    return side


def _tolerance(lit: Parsed, approx: bool, raw: str) -> sympy.Rational | None:
    """How far a bare literal may be from the exact value it stands for, or None (exact)."""
    if lit.compound or lit.percent:
        return None
    if lit.decimals is not None:
        return sympy.Rational(1, 10**lit.decimals)
    if approx:
        digits = raw.strip().lstrip("-")
        zeros = len(digits) - len(digits.rstrip("0")) if digits.isdigit() and digits != "0" else 0
        return sympy.Rational(10**zeros)
    return None


def _compare(a: Parsed, b: Parsed, rel: str, raw_a: str, raw_b: str) -> bool | None:
    """Whether ``a rel b`` holds; None when it is undecidable (a condition on variables)."""
    if a.value.free_symbols or b.value.free_symbols:
        diff = sympy.expand(a.value - b.value)
        if diff.free_symbols or not diff.is_number:
            return None
        if rel in ("=", "≈"):
            return bool(diff == 0)
        return None
    if rel in ("<", ">", "≤", "≥"):
        d = a.value - b.value
        if not d.is_Rational:
            d = sympy.nsimplify(sympy.N(d, 30), rational=True)
        return bool({"<": d < 0, ">": d > 0, "≤": d <= 0, "≥": d >= 0}[rel])
    approx = rel == "≈"
    for lit, other in ((b, a), (a, b)):
        if lit.percent and not other.percent and other.value == lit.value * 100:
            return True  # "0.7 * 100 = 70%": the conversion idiom
    for lit, other, raw in ((b, a, raw_b), (a, b, raw_a)):
        unit = _tolerance(lit, approx, raw)
        if unit is not None:
            d = sympy.N(other.value - lit.value, 30)
            slack = 1 + sympy.Rational(1, 10**6)
            if approx:
                return bool(abs(d) <= unit * slack)
            truncated = 0 <= (d if other.value >= 0 else -d) < unit  # 2/3 = 0.66
            return bool(abs(d) <= unit / 2 * slack or truncated)
    d = a.value - b.value
    exact = bool(d == 0) if d.is_Rational else abs(sympy.N(d, 40)) < sympy.Float(10) ** -30
    if exact:
        return True
    if approx or a.inexact or b.inexact:  # computed from a rounded value: 1 % either way
        scale = max(abs(sympy.N(a.value, 30)), abs(sympy.N(b.value, 30)))
        return bool(abs(sympy.N(d, 30)) <= scale / 100)
    return False


def _chain(sides: list[str | None], rels: list[str], allow_vars: bool) -> list[Claim]:
    parsed: list[Parsed | None] = []
    for side in sides:
        if side is None or not side.strip():
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
        ok = _compare(a, b, rel, sides[k] or "", sides[k + 1] or "")
        if ok is None:
            continue
        text = f"{(sides[k] or '').strip()} {rel} {(sides[k + 1] or '').strip()}"
        if not ok and rel == "=" and b.compound and b.lead is not None and not a.value.free_symbols \
                and b.lead == a.value:
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


def _top_level_split(text: str) -> list[str]:
    """Split math at ``;`` and at commas outside brackets (``x = 1, y = 2``; not ``f(1, 2)``)."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == ";" or (ch == "," and depth <= 0):
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _math_claims(text: str) -> list[Claim]:
    claims: list[Claim] = []
    for stmt in _top_level_split(text):
        parts = _RELATION.split(stmt)
        if len(parts) < 3:
            continue
        claims += _chain(list(parts[0::2]), parts[1::2], True)
    return claims


_WINDOW = 256  # characters around a claim that decide whether it is cut from a longer expression


def _plain_claims(text: str) -> list[Claim]:
    claims: list[Claim] = []
    text_starts = len(text) - len(text.lstrip())  # where the first non-space character is
    for m in _PLAIN_RUN.finditer(text):
        span = m.group(0)
        parts = _RELATION.split(span)
        if len(parts) < 3:
            continue
        sides: list[str | None] = [_balance(p) for p in parts[0::2]]
        # Windows, not the whole text before and after: the checks below read the last word
        # before and the first after; slicing the whole text made a long step quadratic.
        before, after = text[max(0, m.start() - _WINDOW) : m.start()], text[m.end() : m.end() + _WINDOW]
        word_before = re.search(r"([A-Za-z]+)\W*$", before)
        word_after = re.match(r"\s*([A-Za-z%]+)", after)
        first = parts[0]
        if (
            (before and not span[0].isspace() and first.strip())  # touches a word or symbol: 10:30, D-8
            or (first.strip() and _OPERATOR_START.match(first) and m.start() > text_starts)  # "D - 8 =": operand cut
            or (word_before and word_before.group(1).lower() in _CONTINUES and first.strip())
        ):
            sides[0] = None
        if (
            (after and not span[-1].isspace() and after[0] not in ",;?")  # "= 4!", "= 5x", "= 10:30"
            or (word_after and word_after.group(1).lower() in _CONTINUES)
        ):
            sides[-1] = None
        claims += _chain(sides, parts[1::2], False)
    return claims


def check_claims(step_text: str, context: str = "") -> list[Claim]:
    """Every checkable claim of a step, each with whether it holds.

    ``context`` (the problem, earlier steps) only decides whether the step is in a modular
    or base-n setting, where false claims are not reported.
    """
    names = _Names()
    claims: list[Claim] = []
    plain = []
    last = 0
    for m in _MATH.finditer(step_text):
        plain.append(step_text[last : m.start()])
        plain.append(" ; ")
        claims += _math_claims(normalize_latex(next(g for g in m.groups() if g is not None), names))
        last = m.end()
    plain.append(step_text[last:])
    claims += _plain_claims(normalize_latex("".join(plain), names))
    if any(not c.holds for c in claims) and (_MODULAR.search(step_text) or _MODULAR.search(context)):
        claims = [c for c in claims if c.holds]
    return claims
