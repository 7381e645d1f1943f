"""A scripted world, backend and reward model whose best answer is known in advance."""

from __future__ import annotations

from collections.abc import Sequence

from stepsieve.backends import Generation
from stepsieve.trajectory import Cost
from stepsieve.worlds import Task


class ScriptedWorld:
    """Steps are lines; a line ``Answer: X`` ends a solution with answer X."""

    name = "scripted"

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        return f"Q: {task.problem}\n" + "".join(s + "\n" for s in steps)

    def split_steps(self, completion: str) -> list[str]:
        return [ln.strip() for ln in completion.splitlines() if ln.strip()]

    def parse_answer(self, completion: str) -> str | None:
        for ln in reversed(completion.splitlines()):
            if ln.startswith("Answer: "):
                return ln[len("Answer: "):].strip()
        return None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        return answer == task.answer

    def is_complete(self, task: Task, steps: Sequence[str]) -> bool:
        return bool(steps) and steps[-1].startswith("Answer: ")


class ScriptedBackend:
    """Next steps come from ``tree[(problem, steps...)]``; full solutions from ``full[problem]``.

    Sample j of a prompt is entry j (cycling) of its script; tokens = characters generated.
    """

    name = "scripted"
    model = "scripted"

    def __init__(self, tree=None, full=None) -> None:
        self.tree = tree or {}
        self.full = full or {}
        self.cost = Cost()
        self.calls: list[dict] = []

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        self.calls.append({"prompts": list(prompts), "n": n, "stop": list(stop), "max_tokens": max_tokens})
        out = []
        for p in prompts:
            lines = [ln for ln in p.splitlines() if ln]
            problem = lines[0][len("Q: "):]
            script = self.tree[(problem, *lines[1:])] if stop else self.full[problem]
            out.append([Generation(script[j % len(script)], len(script[j % len(script)])) for j in range(n)])
        return out

    def score(self, prompts, continuations):
        raise NotImplementedError


class ScriptedScorer:
    """P(step correct) looked up by the step's text (default 0.5)."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.calls = 0

    def score_steps(self, trajectories):
        self.calls += 1
        return [[self.table.get(s.text, 0.5) for s in t.steps] for t in trajectories]
