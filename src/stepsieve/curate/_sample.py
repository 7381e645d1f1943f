"""Sampling a Step-DPO chosen step on request, through the Backend and World protocols.

When neither the recorded Monte Carlo rollouts nor the task tree hold a correct
alternative to a first error, ``BackendSampler`` asks a policy for continuations of the
prefix before the error and keeps the first step of the first continuation whose final
answer the world's checker accepts. Nothing is executed or evaluated: the answer check is
the world's own exact checker.
"""

from __future__ import annotations

from typing import Any

from stepsieve.trajectory import Step, Trajectory

__all__ = ["BackendSampler"]


class BackendSampler:
    """Callable ``(trajectory, prefix_steps) -> (first_step, rest_steps) | None``.

    ``backend`` follows ``stepsieve.backends.Backend``; ``world`` follows
    ``stepsieve.worlds.World`` (task_from_trajectory, prompt, split_steps, parse_answer,
    check_answer). ``calls`` counts prompts sent, for the manifest.
    """

    def __init__(
        self,
        backend: Any,
        world: Any,
        *,
        n: int = 8,
        max_tokens: int = 256,
        temperature: float = 1.0,
        seed: int | None = 0,
    ) -> None:
        self.backend = backend
        self.world = world
        self.n = n
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self.calls = 0

    @property
    def config(self) -> dict[str, Any]:
        """What the manifest records: backend, model, world, sampling options, prompts sent."""
        return {
            "backend": getattr(self.backend, "name", type(self.backend).__name__),
            "model": getattr(self.backend, "model", None),
            "world": getattr(self.world, "name", type(self.world).__name__),
            "n": self.n,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "calls": self.calls,
        }

    def __call__(self, t: Trajectory, prefix: list[Step]) -> tuple[str, list[str]] | None:
        task = self.world.task_from_trajectory(t)
        prompt = self.world.prompt(task, [s.text for s in prefix])
        self.calls += 1
        gens = self.backend.generate(
            [prompt], n=self.n, max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed
        )[0]
        for g in gens:
            if not self.world.check_answer(task, self.world.parse_answer(g.text)):
                continue
            steps = self.world.split_steps(g.text)
            if steps:
                return steps[0], list(steps[1:])
        return None
