"""The one rollout loop: continue ``(task, prefix steps)`` items N times with a policy.

Text worlds take one batched ``generate`` call (the solution runs to end of sequence).
Agent worlds take one action per turn (stop at a newline), the environment's observations
replayed into the next prompt, until the agent answers or ``max_turns`` runs out. Both
sampling (new trajectories) and the ``mc`` grader (rollouts from prefixes) use it, so it
sits with the worlds, below both.

Determinism: the backend's sample j of a prompt is a function of (prompt, seed, j); agent
turns after the first are seeded from (seed, j, turn), so results never depend on how the
work was batched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stepsieve._errors import ConfigError
from stepsieve.worlds._protocol import AgentWorld, Task, World

if TYPE_CHECKING:
    from stepsieve.backends import Backend, Generation

__all__ = ["rollout"]


def _turn_seed(seed: int, j: int, turn: int) -> int:
    h = hashlib.sha256(f"sample\x00{seed}\x00{j}\x00{turn}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**62 - 1)


def rollout(
    world: World,
    backend: Backend,
    items: Sequence[tuple[Task, Sequence[str]]],
    *,
    n: int = 1,
    seed: int = 0,
    temperature: float = 1.0,
    max_tokens: int = 200,
    max_turns: int = 12,
) -> list[list[tuple[list[str], int]]]:
    """Continue each ``(task, prefix steps)`` ``n`` times: ``out[i][j] = (new steps, tokens)``.

    Text worlds: one batched ``generate`` call (the solution runs to end of sequence).
    Agent worlds: one action per turn (stop at a newline), observations replayed into the
    next prompt, until the agent answers or ``max_turns`` turns have passed. Both the mc
    grader and the sampler continue prefixes through this one loop.
    """
    if n < 1:
        raise ConfigError(f"rollout needs n >= 1, got {n}")
    if not isinstance(world, AgentWorld):
        prompts = [world.prompt(t, list(p)) for t, p in items]
        gens = backend.generate(prompts, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return [[(world.split_steps(g.text), g.tokens) for g in row] for row in gens]
    acts: list[list[list[str]]] = [[[] for _ in range(n)] for _ in items]
    toks = [[0] * n for _ in items]
    live = {(i, j) for i in range(len(items)) for j in range(n) if not world.done(list(items[i][1]))}
    for turn in range(max_turns):
        if not live:
            break
        results: dict[tuple[int, int], Generation] = {}
        if turn == 0:  # all samples of an item share its prompt: one call with n samples
            rows = sorted({i for i, _ in live})
            prompts = [world.prompt(items[i][0], list(items[i][1])) for i in rows]
            gens = backend.generate(prompts, n=n, max_tokens=max_tokens, stop=["\n"],
                                    temperature=temperature, seed=seed)
            results = {(i, j): gens[k][j] for k, i in enumerate(rows) for j in range(n) if (i, j) in live}
        else:  # samples have diverged: one call per sample index, seeded by (seed, j, turn)
            for j in range(n):
                rows = sorted(i for i, jj in live if jj == j)
                if not rows:
                    continue
                prompts = [world.prompt(items[i][0], [*items[i][1], *acts[i][j]]) for i in rows]
                gens = backend.generate(prompts, n=1, max_tokens=max_tokens, stop=["\n"],
                                        temperature=temperature, seed=_turn_seed(seed, j, turn))
                results.update({(i, j): g[0] for i, g in zip(rows, gens)})
        for (i, j), g in sorted(results.items()):
            toks[i][j] += g.tokens
            action = g.text.strip().removeprefix(">").strip()
            if not action:
                live.discard((i, j))
                continue
            acts[i][j].append(action)
            if world.done([*items[i][1], *acts[i][j]]):
                live.discard((i, j))
    return [[(acts[i][j], toks[i][j]) for j in range(n)] for i in range(len(items))]
