"""Checks a written thought must pass before it becomes a step's ``thought``.

A generated rationale is untrusted model output: it may be empty, run on, or argue for a
different move than the one the agent made, which would teach the opposite of the data. A
thought fails (and is kept aside in ``meta.augment.rejected_thought`` with the reason, never
dropped silently) when it

- is empty, or outside ``[min_chars, max_chars]``;
- names a tool other than the step's own among the tools the trajectory uses (``names another
  action: answer``);
- names screen coordinates more than ``tolerance`` pixels from every target of the step's
  computer-use actions (``names another target: (700, 400)``).
"""

from __future__ import annotations

import re

from stepsieve.graders.agent_rules import step_actions
from stepsieve.trajectory import Step, Trajectory

__all__ = ["check_thought"]

_POINT = re.compile(r"\(\s*(\d{1,5})\s*,\s*(\d{1,5})\s*\)|\bx\s*[=:]\s*(\d{1,5})\s*,?\s*y\s*[=:]\s*(\d{1,5})", re.I)


def _tools(t: Trajectory) -> set[str]:
    return {a.name for s in t.steps for a in step_actions(s) if a.type == "tool" and a.name}


def _targets(step: Step) -> list[tuple[int, int]]:
    out = []
    for a in step_actions(step):
        if a.x is not None and a.y is not None:
            out.append((a.x, a.y))
        out.extend((p.x, p.y) for p in a.path or [])
    return out


def check_thought(
    thought: str, t: Trajectory, step: Step, *, min_chars: int, max_chars: int, tolerance: int
) -> str | None:
    """None when the thought passes, else the reason it fails."""
    text = thought.strip()
    if not text:
        return "empty"
    if len(text) < min_chars:
        return f"too short ({len(text)} < {min_chars} characters)"
    if len(text) > max_chars:
        return f"too long ({len(text)} > {max_chars} characters)"
    own = {a.name for a in step_actions(step) if a.type == "tool" and a.name}
    for name in sorted(_tools(t) - own):
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.I):
            return f"names another action: {name}"
    targets = _targets(step)
    if targets:
        for m in _POINT.finditer(text):
            x, y = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(3)), int(m.group(4)))
            if all(abs(x - tx) > tolerance or abs(y - ty) > tolerance for tx, ty in targets):
                return f"names another target: ({x}, {y})"
    return None
