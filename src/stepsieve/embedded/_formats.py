"""Text formats the embedded models were trained on (kept here so training, sampling and
the offline judge build exactly the same strings).

Verifier, format 2 (the shipped one; ``train_config.json`` says ``"format": 2``): the
problem, the solution numbered from 1, then ``Check:``. The verifier re-derives each step
from the problem as the policy would write it, marks it ``+`` (the candidate's step i is
right) or ``-`` (the first wrong one, where it stops), and ends with the 1-based number of
the first wrong step or ``none``::

    Problem: ...
    Solution:
    1. 7 + 8 = 15
    2. 15 * 3 = 44
    3. Answer: 44
    Check:
    7 + 8 = 15 +
    15 * 3 = 45 -
    Verdict: 2

Why re-derive: the policy's own errors are near-miss arithmetic (``15 * 3 = 44``). A model
of a million parameters cannot see that from the candidate's line alone, but it can write
the step itself (that is what the policy it starts from does) and compare two lines. Each
step is one supervised decision next to the line it concerns.

Format 1 (the first shipped verifier) replied on one line, ``Verdict: +- 2``: marks, then
the number. It is kept so older verifier directories still load and so benchmarks can
compare the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["VERIFIER_FORMAT", "parse_verdict", "verifier_prompt", "verifier_reply"]

VERIFIER_FORMAT = 2
_V1 = re.compile(r"^\s*[+\-]*\s*(none|\d+)\b", re.IGNORECASE)
_V2 = re.compile(r"^Verdict: *(none|\d+) *$", re.MULTILINE)
_BEYOND = "(end)"  # what the verifier writes for a candidate step past the reference answer


def verifier_prompt(problem: str, steps: Sequence[str], fmt: int = VERIFIER_FORMAT) -> str:
    """The verifier's input for a solution (its steps, final-answer line included)."""
    body = "".join(f"{i}. {s.strip()}\n" for i, s in enumerate(steps, start=1))
    tail = "Verdict:" if fmt == 1 else "Check:\n"
    return f"Problem: {problem}\nSolution:\n{body}{tail}"


def verifier_reply(
    first_error: int, n_steps: int, reference: Sequence[str] = (), fmt: int = VERIFIER_FORMAT
) -> str:
    """The reply the verifier is trained to write (``first_error`` 0-based, -1 for none).

    Format 2 needs the ``reference`` steps (the world's correct solution): line i of the
    reply is reference step i, the step the candidate should have written there given its
    (correct) earlier steps."""
    if fmt == 1:
        if first_error < 0:
            return " " + "+" * n_steps + " none"
        return " " + "+" * first_error + "-" + f" {first_error + 1}"
    checked = n_steps if first_error < 0 else first_error + 1
    lines = []
    for j in range(checked):
        ref = reference[j] if j < len(reference) else _BEYOND
        lines.append(f"{ref} {'-' if j == first_error else '+'}\n")
    verdict = "none" if first_error < 0 else str(first_error + 1)
    return "".join(lines) + f"Verdict: {verdict}\n"


def parse_verdict(text: str, n_steps: int, fmt: int = VERIFIER_FORMAT) -> int | None:
    """0-based first-error index from the verifier's reply, -1 for ``none``; None when the
    reply is unparseable or names a step that does not exist. Format 2 reads the first
    ``Verdict:`` line (a whole line: ``Verdict: 3`` or ``Verdict: none``)."""
    m = (_V1.match if fmt == 1 else _V2.search)(text)
    if m is None:
        return None
    if m.group(1).lower() == "none":
        return -1
    k = int(m.group(1))
    return k - 1 if 1 <= k <= n_steps else None
