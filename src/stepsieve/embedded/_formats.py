"""Text formats the embedded models were trained on (kept here so training, sampling and
the offline judge build exactly the same strings).

Verifier input: the problem, then the solution numbered from 1, then ``Verdict:``. It
answers with one mark per step it checked (``+`` right, ``-`` the first wrong one, where it
stops), then the 1-based number of the first wrong step, or ``none``::

    Problem: ...
    Solution:
    1. 7 + 8 = 15
    2. 15 * 3 = 44
    3. Answer: 44
    Verdict: +- 2

The marks are a short chain of thought: one supervised decision per step instead of one per
solution, which is what lets a model of a million parameters learn the task in minutes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_verdict", "verifier_prompt", "verifier_reply"]

_VERDICT = re.compile(r"^\s*[+\-]*\s*(none|\d+)\b", re.IGNORECASE)


def verifier_prompt(problem: str, steps: Sequence[str]) -> str:
    """The verifier's input for a solution (its steps, final-answer line included)."""
    body = "".join(f"{i}. {s.strip()}\n" for i, s in enumerate(steps, start=1))
    return f"Problem: {problem}\nSolution:\n{body}Verdict:"


def verifier_reply(first_error: int, n_steps: int) -> str:
    """The reply the verifier is trained to write (``first_error`` 0-based, -1 for none)."""
    if first_error < 0:
        return " " + "+" * n_steps + " none"
    return " " + "+" * first_error + "-" + f" {first_error + 1}"


def parse_verdict(text: str, n_steps: int) -> int | None:
    """0-based first-error index from the verifier's reply, -1 for ``none``; None when the
    reply is unparseable or names a step that does not exist."""
    m = _VERDICT.match(text)
    if m is None:
        return None
    if m.group(1).lower() == "none":
        return -1
    k = int(m.group(1))
    return k - 1 if 1 <= k <= n_steps else None
