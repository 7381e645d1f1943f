"""The ``toolcalc`` agent world: the ``arith`` tasks solved with tool calls.

The agent calls a ``calculator`` tool (one operation per call, in the task's order) and ends
with an ``answer`` tool call. The environment executes every call exactly and replays any
action prefix deterministically (``replay``), so rollouts can resume mid-trajectory.
Ground truth per action comes from the arith checker: calculator call ``i`` must apply the
task's operation ``i`` to the last result, and the answer must be the final value.

Two views of one episode:

* OpenAI chat (``to_chat``): assistant messages with ``tool_calls`` and ``tool`` results.
* A line-oriented text a character-level policy reads and writes (``prompt``)::

      Problem: Mia has 12 apples. ...
      Tools: calculator, answer
      > calculator 12 + 5
      < 17
      > answer 17

  The policy writes one ``> ...`` line per turn; the environment appends ``< result``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from stepsieve._errors import DataError
from stepsieve.worlds._arith_parse import format_number
from stepsieve.worlds._calculator import CalculatorError, calculate
from stepsieve.worlds._protocol import Task, world_meta
from stepsieve.worlds.arith import ArithWorld, Diagnosis

__all__ = ["SYSTEM_PROMPT", "TOOLS", "ToolCalcWorld", "parse_action"]

SYSTEM_PROMPT = (
    "Solve the word problem with the tools. Call `calculator` once per operation, in the order the "
    "problem states them, starting from the last result; then call `answer` with the final value."
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "Exactly evaluate one arithmetic expression over integers: + - * / and parentheses.",
            "parameters": {
                "type": "object",
                "properties": {"expression": {"type": "string"}},
                "required": ["expression"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "answer",
            "description": "Submit the final answer; ends the episode.",
            "parameters": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
            },
        },
    },
]
_ACTION = re.compile(r"^>?\s*(calculator|answer)\b\s*[:(]?\s*(.*?)\s*\)?\s*$", re.IGNORECASE)
SUBMITTED = "submitted"


def parse_action(text: str) -> tuple[str, str] | None:
    """``(tool, argument)`` of an action line such as ``calculator 12 + 5`` or
    ``> answer 17``, or None when the line names no tool."""
    m = _ACTION.match(text.strip())
    if m is None:
        return None
    return m.group(1).lower(), m.group(2)


class ToolCalcWorld:
    """Agent world over the arith tasks (see the module docstring)."""

    name = "toolcalc"
    step_kind = "action"
    header = "Tools: calculator, answer\n"

    def __init__(self) -> None:
        self._arith = ArithWorld()

    # ---- tasks ---------------------------------------------------------------------

    def sample_tasks(self, n: int, seed: int, **knobs: Any) -> list[Task]:
        """The same tasks as ``arith`` for the same seed and knobs."""
        return self._arith.sample_tasks(n, seed, **knobs)

    def reference(self, task: Task) -> list[str]:
        """The reference actions: one calculator call per operation, then the answer."""
        acts = []
        for step in self._arith.reference(task)[:-1]:
            lhs = step.split(" = ")[0]
            acts.append(f"calculator {lhs}")
        acts.append(f"answer {task.answer}")
        return acts

    # ---- environment -------------------------------------------------------------------

    def execute(self, action: str) -> str:
        """The observation one action produces (a pure function of the action)."""
        parsed = parse_action(action)
        if parsed is None:
            return "error: unknown tool (use calculator or answer)"
        tool, arg = parsed
        if tool == "answer":
            return SUBMITTED
        try:
            return format_number(calculate(arg))
        except CalculatorError as e:
            return f"error: {e}"

    def replay(self, task: Task, actions: Sequence[str]) -> list[str]:
        """Observations of ``actions`` executed in order; deterministic, so any prefix of
        an episode can be rebuilt exactly and a rollout resumed from it."""
        return [self.execute(a) for a in actions]

    def done(self, actions: Sequence[str]) -> bool:
        """True once the agent has called ``answer``."""
        return any((p := parse_action(a)) is not None and p[0] == "answer" for a in actions)

    # ---- text view -----------------------------------------------------------------------

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        lines = [f"Problem: {task.problem}\n", self.header]
        for act, obs in zip(steps, self.replay(task, steps)):
            lines.append(f"> {act.strip().removeprefix('>').strip()}\n")
            if obs != SUBMITTED:
                lines.append(f"< {obs}\n")
        return "".join(lines)

    def split_steps(self, completion: str) -> list[str]:
        """Action lines of a text episode (``< observation`` lines are the environment's)."""
        out = []
        for ln in completion.splitlines():
            s = ln.strip()
            if not s or s.startswith(("<", "Problem:")) or s == self.header.strip():
                continue
            out.append(s.removeprefix(">").strip())
        return out

    def parse_answer(self, completion: str) -> str | None:
        for act in reversed(self.split_steps(completion)):
            p = parse_action(act)
            if p is not None and p[0] == "answer":
                return p[1].strip().rstrip(".") or None
        return None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        return self._arith.check_answer(task, answer)

    # ---- ground truth ------------------------------------------------------------------

    def _as_arith_steps(self, actions: Sequence[str]) -> list[str]:
        """Each action as the arith step it amounts to, with the calculator's exact result."""
        steps = []
        for act in actions:
            p = parse_action(act)
            if p is None:
                steps.append(act)
            elif p[0] == "answer":
                steps.append(f"Answer: {p[1]}")
            else:
                steps.append(f"{p[1]} = {self.execute(act)}")
        return steps

    def diagnose(self, task: Task, actions: Sequence[str]) -> Diagnosis:
        return self._arith.diagnose(task, self._as_arith_steps(actions))

    def first_error(self, task: Task, steps: Sequence[str]) -> int:
        return self.diagnose(task, steps).index

    def is_complete(self, task: Task, steps: Sequence[str]) -> bool:
        return self.done(steps)

    def task_from_trajectory(self, trajectory: Any) -> Task:
        meta = world_meta(trajectory, self.name)
        from stepsieve.worlds.arith import task_from_dict

        return task_from_dict(meta.get("task"))

    # ---- OpenAI chat view ----------------------------------------------------------------

    def messages(self, task: Task) -> list[dict[str, Any]]:
        """The system and user messages that set the task."""
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task.problem}]

    def to_tool_call(self, action: str, call_id: str) -> dict[str, Any]:
        p = parse_action(action)
        name, arg = p if p is not None else ("calculator", action)
        key = "answer" if name == "answer" else "expression"
        return {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": orjson.dumps({key: arg}).decode()},
        }

    @staticmethod
    def from_tool_call(call: dict[str, Any]) -> str:
        """The action text of an OpenAI tool call (raises DataError when malformed)."""
        try:
            fn = call["function"]
            args = fn["arguments"]
            args = orjson.loads(args) if isinstance(args, str) else args
            name = fn["name"]
            value = args["answer" if name == "answer" else "expression"]
        except (KeyError, TypeError, orjson.JSONDecodeError) as e:
            raise DataError(f"malformed tool call {call!r}: {e}") from None
        return f"{name} {value}"

    def to_chat(self, task: Task, actions: Sequence[str]) -> list[dict[str, Any]]:
        """The whole episode as OpenAI chat messages (system, user, then one assistant
        message with one tool call per action and a ``tool`` message with its result)."""
        msgs = self.messages(task)
        for i, (act, obs) in enumerate(zip(actions, self.replay(task, actions))):
            call = self.to_tool_call(act, f"call_{i}")
            msgs.append({"role": "assistant", "content": None, "tool_calls": [call]})
            msgs.append({"role": "tool", "tool_call_id": call["id"], "content": obs})
        return msgs
