"""Trajectories as plain text, the same way in every text export and pair record.

The task, then each step (an action's observation on the following line), steps
separated by ``sep``. The prompt of a step-level pair is the task and the steps before
the pair's step, each followed by ``sep``: exactly the text the pair's step continues.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepsieve.trajectory import Step

__all__ = ["render_prompt", "render_step", "render_task"]


def render_task(task: str | list[dict[str, Any]]) -> str:
    """A task as text: the string itself, or the contents of its messages, blank-line separated."""
    if isinstance(task, str):
        return task
    return "\n\n".join(
        m["content"] for m in task if isinstance(m, dict) and isinstance(m.get("content"), str)
    )


def render_step(s: Step) -> str:
    """A step as text: its text, and for an action its observation on the next line."""
    return s.text if s.observation is None else f"{s.text}\n{s.observation}"


def render_prompt(task: str | list[dict[str, Any]], prefix: Sequence[Step], sep: str = "\n") -> str:
    """The task and the steps of ``prefix``, each followed by ``sep``: the context of the next step."""
    return render_task(task) + sep + "".join([render_step(s) + sep for s in prefix])
