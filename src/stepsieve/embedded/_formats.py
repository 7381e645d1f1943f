"""Text formats the embedded models were trained on (kept here so training, sampling and
the offline judge build exactly the same strings).

Verifier input: the problem, then the solution numbered from 1, then ``Verdict:``; it
answers the 1-based number of the first wrong step, or ``none``::

    Problem: ...
    Solution:
    1. 7 + 8 = 15
    2. 15 * 3 = 44
    3. Answer: 44
    Verdict: 2
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["parse_verdict", "verifier_prompt"]

_VERDICT = re.compile(r"^\s*(none|\d+)\b", re.IGNORECASE)


def verifier_prompt(problem: str, steps: Sequence[str]) -> str:
    """The verifier's input for a solution (its steps, final-answer line included)."""
    body = "".join(f"{i}. {s.strip()}\n" for i, s in enumerate(steps, start=1))
    return f"Problem: {problem}\nSolution:\n{body}Verdict:"


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
