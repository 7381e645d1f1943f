"""Rollouts for Monte Carlo grading: complete a prefix N times and check each answer.

Two kinds of world, one interface (``Rollouts.run``):

- text worlds (``arith``, free-form ``math``): one batched ``generate(prompts, n=N)``
  call; the backend encodes each shared prefix once and reuses its KV cache for the N
  samples;
- agent worlds (``toolcalc``: any ``AgentWorld``): the prefix's
  environment state is rebuilt by replaying its actions (inside ``world.prompt``), then each
  rollout takes one action per turn (stop at a newline), the environment answers, until the
  agent is done or ``max_turns`` runs out.

Seeds: sample j of a prompt is a function of (prompt, seed, j) only (the Backend contract),
and later agent turns seed each rollout from (seed, j, turn), so results never depend on
how probes were batched — a resumed job reproduces an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepsieve.backends import Backend
from stepsieve.graders._claims import check_claims
from stepsieve.trajectory import Cost
from stepsieve.worlds import AgentWorld, Task, World, rollout

__all__ = ["ProbeResult", "Rollouts", "claims_hold"]


def claims_hold(continuation: str) -> bool:
    """Whether every arithmetic claim a rollout makes holds (the ``rules`` grader's checker,
    line by line). Used to screen rollouts: a completion that reaches the right answer
    through a false claim ("54 - 8 = 47") is a compensating error, not evidence that its
    prefix was recoverable (execution-grounded rollout checks, as in GroundedPRM)."""
    return all(c.holds for line in continuation.splitlines() for c in check_claims(line))


@dataclass(slots=True)
class ProbeResult:
    """N rollouts from one prefix: how many reached a correct answer, at what cost."""

    n: int
    n_correct: int
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    cost: Cost = field(default_factory=Cost)

    @property
    def value(self) -> float:
        return self.n_correct / self.n if self.n else 0.0


class Rollouts:
    """Runs batches of probes ``(task, prefix steps)`` through a backend (see module doc)."""

    def __init__(
        self, backend: Backend, world: World, n: int, *, temperature: float, max_tokens: int, seed: int, max_turns: int,
        check: Callable[[str], bool] | None = None,
    ) -> None:
        self.backend, self.world, self.n = backend, world, n
        self.temperature, self.max_tokens, self.seed, self.max_turns = temperature, max_tokens, seed, max_turns
        self.check = check  # a success must also pass this (e.g. its arithmetic claims hold)

    def run(self, probes: Sequence[tuple[Task, list[str]]]) -> list[ProbeResult]:
        if not probes:
            return []
        before = Cost.from_dict(self.backend.cost.to_dict())  # a snapshot, not an alias
        if isinstance(self.world, AgentWorld):
            texts, tokens = self._agent(probes)
        else:
            prompts = [self.world.prompt(task, steps) for task, steps in probes]
            gens = self.backend.generate(
                prompts, n=self.n, max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed
            )
            texts = [[g.text for g in row] for row in gens]
            tokens = [[g.tokens for g in row] for row in gens]
            # what each probe's prompt cost, carried by its samples (also when they come from
            # the request cache: a resumed job records what an uninterrupted one does)
            read = [sum(g.prompt_tokens for g in row) for row in gens]
        spent = _delta(self.backend.cost, before)
        if isinstance(self.world, AgentWorld):  # prompts of many turns: shared equally
            read = [round(spent.tokens_in / len(probes))] * len(probes)
        total_out = sum(map(sum, tokens)) or 1
        out = []
        for (task, steps), row, toks, t_in in zip(probes, texts, tokens, read):
            rolls: list[dict[str, Any]] = [{"text": x, "correct": self._correct(task, steps, x)} for x in row]
            share = sum(toks) / total_out
            cost = Cost(self.n, t_in, sum(toks), spent.seconds * share)
            out.append(ProbeResult(self.n, sum(r["correct"] for r in rolls), rolls, cost))
        return out

    def _correct(self, task: Task, steps: list[str], continuation: str) -> bool:
        if isinstance(self.world, AgentWorld):
            full = "\n".join([*steps, continuation])
            ok = bool(self.world.check_answer(task, self.world.parse_answer(full)))
        else:
            ok = bool(self.world.check_answer(task, self.world.parse_answer(continuation)))
        return ok and (self.check is None or self.check(continuation))

    def _agent(self, probes: Sequence[tuple[Task, list[str]]]) -> tuple[list[list[str]], list[list[int]]]:
        """Multi-turn rollouts through the one rollout loop (``stepsieve.worlds.rollout``):
        one action per turn, the environment replayed in the prompt."""
        out = rollout(
            self.world, self.backend, probes, n=self.n, seed=self.seed, temperature=self.temperature,
            max_tokens=self.max_tokens, max_turns=self.max_turns,
        )
        return [["\n".join(acts) for acts, _ in row] for row in out], [[tok for _, tok in row] for row in out]


def _delta(after: Cost, before: Cost) -> Cost:
    return Cost(
        after.calls - before.calls,
        after.tokens_in - before.tokens_in,
        after.tokens_out - before.tokens_out,
        after.seconds - before.seconds,
    )
