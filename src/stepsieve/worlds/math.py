"""The ``math`` world: free-form math problems checked against reference answers with
``math-verify``.

It has no task source (``sample_tasks``) and no step truth (``first_error``): it grades
trajectories that come with a reference answer (ProcessBench, PRM800K, GSM8K...). The
prompt is the problem, a blank line, then the steps separated by blank lines (the
ProcessBench / PRM800K layout); a completion's answer is what math-verify extracts
(``\\boxed{}`` first, then the last number).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepsieve._errors import ConfigError, GraderError
from stepsieve.worlds._protocol import Task

__all__ = ["MathWorld"]


class MathWorld:
    """Reference answers checked with ``math-verify`` (see the module docstring)."""

    name = "math"

    def __init__(self, step_separator: str = "\n\n") -> None:
        self.sep = step_separator

    def sample_tasks(self, n: int, seed: int, **knobs: Any) -> list[Task]:
        raise ConfigError("the math world has no task source: it grades trajectories with reference answers")

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        return task.problem + self.sep + "".join(s + self.sep for s in steps)

    def split_steps(self, completion: str) -> list[str]:
        return [s.strip() for s in completion.split(self.sep) if s.strip()]

    def parse_answer(self, completion: str) -> str | None:
        from math_verify import parse

        found = parse(completion)
        return str(found[-1]) if found else None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        from math_verify import parse, verify

        if answer is None:
            return False
        return bool(verify(parse(task.answer), parse(answer)))

    def states_answer(self, step: str) -> bool:
        return "\\boxed" in step

    def first_error(self, task: Task, steps: Sequence[str]) -> int:
        raise ConfigError("the math world has no step truth: grade its steps with mc, judge or rules")

    def task_from_trajectory(self, trajectory: Any) -> Task:
        t = trajectory
        if t.reference is None:
            raise GraderError(f"trajectory {t.id}: the math world needs a reference answer")
        problem = t.task if isinstance(t.task, str) else "\n".join(str(m.get("content", "")) for m in t.task)
        return Task(t.id, problem, t.reference)
