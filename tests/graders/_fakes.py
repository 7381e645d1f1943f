"""Scripted stand-ins for a policy backend and a world, for orchestration tests."""

from __future__ import annotations

from collections.abc import Sequence

from stepsieve.backends._protocol import Generation
from stepsieve.trajectory import Cost, Step, Trajectory
from stepsieve.worlds import Task


class ToyWorld:
    """Steps are words; a prefix containing "BAD" can never reach the right answer."""

    name = "toy"

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        return f"P:{task.problem}\n" + "".join(s + "\n" for s in steps)

    def parse_answer(self, completion: str) -> str | None:
        for line in reversed(completion.splitlines()):
            if line.startswith("Answer: "):
                return line.removeprefix("Answer: ")
        return None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        return answer == task.answer

    def task_from_trajectory(self, t: Trajectory) -> Task:
        return Task(t.id, t.task, "right")


class ScriptedBackend:
    """Completes a prompt with the right answer unless the prompt holds a BAD step.

    ``fail_first`` makes the first k samples of every prompt fail, for soft values.
    Records every prompt so tests can check probe order and counts.
    """

    name = "scripted"
    model = "script"

    def __init__(self, fail_first: int = 0) -> None:
        self.cost = Cost()
        self.prompts: list[str] = []
        self.fail_first = fail_first

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            ok = "BAD" not in p
            row = [
                Generation("more\nAnswer: " + ("right" if ok and j >= self.fail_first else "wrong"), 3)
                for j in range(n)
            ]
            out.append(row)
        self.cost = self.cost + Cost(len(prompts), sum(len(p) for p in prompts), 3 * n * len(prompts), 0.01)
        return out

    def score(self, prompts, continuations):
        raise NotImplementedError


def toy(tid: str, steps: list[str], task: str = "q") -> Trajectory:
    return Trajectory(tid, task, [Step(i, s) for i, s in enumerate(steps)])


def probed_steps(prompts: list[str]) -> list[int]:
    """0-based index of the last step in each probed prompt."""
    return [p.count("\n") - 2 for p in prompts]
