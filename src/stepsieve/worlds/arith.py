"""The ``arith`` world: multi-step arithmetic word problems with exact step truth.

A solution is one step a line (``17 + 5 = 22``) followed by a final line ``Answer: 22``.
Step ``i`` (0-based) must apply the task's operation ``i`` to the value carried from step
``i-1`` (the start value for step 0) and state the true result; step ``n_ops`` must be the
answer line. The checker therefore catches false arithmetic *and* steps that do not follow
the task: wrong operand, wrong operation, a skipped or repeated operation, a wrong carried
value, an early or missing answer, extra steps. ``diagnose`` also names the kind of error.

The prompt a policy continues is ``Problem: ...`` then ``Solution:`` then the steps.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stepsieve._errors import DataError
from stepsieve.worlds._arith_gen import ArithKnobs, generate_task
from stepsieve.worlds._arith_parse import apply_op, parse_answer_line, parse_equation
from stepsieve.worlds._protocol import Task, world_meta

__all__ = ["ERROR_KINDS", "ArithWorld", "Diagnosis", "reference_steps", "task_to_dict"]

ERROR_KINDS = (
    "arithmetic",  # the operation is the task's, the stated result is false
    "wrong_operand",  # right operation, wrong number
    "wrong_operation",  # right number, wrong operation (or both wrong)
    "skipped_operation",  # applies the next operation, skipping this one
    "repeated_operation",  # applies the previous operation again
    "wrong_carry",  # starts from a value other than the one carried from the last step
    "unparseable",  # not an equation (nor, where one is due, an answer line)
    "early_answer",  # an answer line before every operation is done
    "wrong_answer",  # the answer line states a value other than the last result
    "extra_step",  # anything after the answer line
)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """Where a solution first goes wrong and why (``index`` -1: no wrong step)."""

    index: int
    kind: str | None = None


def reference_steps(task: Task) -> list[str]:
    """The reference solution: one step a line, then the answer line."""
    v = int(task.data["start"])
    steps = []
    for op, b in task.data["ops"]:
        r = apply_op(v, op, b)
        if r is None:
            raise DataError(f"task {task.id}: the reference solution divides by zero")
        c = int(r)
        steps.append(f"{v} {op} {b} = {c}")
        v = c
    steps.append(f"Answer: {v}")
    return steps


def task_to_dict(task: Task) -> dict[str, Any]:
    """The form a Trajectory stores in ``meta["task"]``."""
    return {"id": task.id, "problem": task.problem, "answer": task.answer, "data": task.data}


def task_from_dict(d: Any, where: str = "meta.task") -> Task:
    if not isinstance(d, dict) or not all(k in d for k in ("id", "problem", "answer", "data")):
        raise DataError(f"{where} must be an object with id, problem, answer and data")
    data = d["data"]
    if not isinstance(data, dict) or "start" not in data or not isinstance(data.get("ops"), list):
        raise DataError(f"{where}.data must hold 'start' and a list 'ops'")
    for j, o in enumerate(data["ops"]):
        if not (isinstance(o, list) and len(o) == 2 and o[0] in "+-*/" and isinstance(o[1], int)):
            raise DataError(f"{where}.data.ops[{j}] must be [op, integer], got {o!r}")
    return Task(str(d["id"]), str(d["problem"]), str(d["answer"]), data)


def _follows(a: int, op: str, b: int, cur: int, want_op: str, want_b: int) -> bool:
    if op != want_op:
        return False
    if (a, b) == (cur, want_b):
        return True
    return op in "+*" and (a, b) == (want_b, cur)  # commuted operands are fine


class ArithWorld:
    """Multi-step arithmetic word problems (see the module docstring)."""

    name = "arith"
    step_kind = "reasoning"

    # ---- tasks ---------------------------------------------------------------------

    def sample_tasks(self, n: int, seed: int, **knobs: Any) -> list[Task]:
        """``n`` tasks from ``seed``; knobs: ``ops`` (int or (min, max)), ``max_start``,
        ``max_addend``, ``max_factor``, ``max_value`` (see ArithKnobs)."""
        k = ArithKnobs.of(**knobs)
        rng = random.Random(f"arith:{seed}")
        return [generate_task(rng, k) for _ in range(n)]

    def reference(self, task: Task) -> list[str]:
        return reference_steps(task)

    # ---- text ----------------------------------------------------------------------

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        return f"Problem: {task.problem}\nSolution:\n" + "".join(s + "\n" for s in steps)

    def split_steps(self, completion: str) -> list[str]:
        return [ln.strip() for ln in completion.splitlines() if ln.strip()]

    def parse_answer(self, completion: str) -> str | None:
        for line in reversed(self.split_steps(completion)):
            v = parse_answer_line(line)
            if v is not None:
                return str(v)
        return None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        if answer is None:
            return False
        v = parse_answer_line(f"Answer: {answer}")
        return v is not None and str(v) == task.answer

    # ---- ground truth ----------------------------------------------------------------

    def diagnose(self, task: Task, steps: Sequence[str]) -> Diagnosis:
        """The first wrong step and the kind of its error."""
        cur = int(task.data["start"])
        ops = [(str(o), int(b)) for o, b in task.data["ops"]]
        n = len(ops)
        for i, s in enumerate(steps):
            if i > n:
                return Diagnosis(i, "extra_step")
            eq = parse_equation(s)
            if i == n:
                ans = parse_answer_line(s)
                if ans is None:
                    return Diagnosis(i, "extra_step" if eq is not None else "unparseable")
                if ans != cur:
                    return Diagnosis(i, "wrong_answer")
                continue
            if eq is None:
                return Diagnosis(i, "early_answer" if parse_answer_line(s) is not None else "unparseable")
            want_op, want_b = ops[i]
            if _follows(eq.a, eq.op, eq.b, cur, want_op, want_b):
                true = apply_op(eq.a, eq.op, eq.b)
                if true is None or true != eq.c:
                    return Diagnosis(i, "arithmetic")
                cur = eq.c
                continue
            return Diagnosis(i, self._off_task_kind(eq.a, eq.op, eq.b, cur, ops, i))
        return Diagnosis(-1)

    @staticmethod
    def _off_task_kind(a: int, op: str, b: int, cur: int, ops: list[tuple[str, int]], i: int) -> str:
        if a != cur and not (op in "+*" and b == cur):
            return "wrong_carry"
        if i + 1 < len(ops) and _follows(a, op, b, cur, *ops[i + 1]):
            return "skipped_operation"
        if i > 0 and _follows(a, op, b, cur, *ops[i - 1]):
            return "repeated_operation"
        if op == ops[i][0]:
            return "wrong_operand"
        return "wrong_operation"

    def first_error(self, task: Task, steps: Sequence[str]) -> int:
        return self.diagnose(task, steps).index

    def is_complete(self, task: Task, steps: Sequence[str]) -> bool:
        """True when the steps end with an answer line (the solution is finished)."""
        return bool(steps) and parse_answer_line(steps[-1]) is not None

    def task_from_trajectory(self, trajectory: Any) -> Task:
        meta = world_meta(trajectory, self.name)
        return task_from_dict(meta.get("task"))

