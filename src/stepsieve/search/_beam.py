"""Step-level beam search and reward-guided greedy decoding with a PRM.

At each depth every live beam asks the Backend for ``expand`` next steps (generation stops
at the step separator), every candidate prefix is scored by the PRM in one pass, and each
task keeps its ``beam_width`` best prefixes by aggregated score. Finished solutions keep
their slot and compete with live ones, so a strong early answer is never dropped for a
weaker longer one. Reward-guided greedy is the same search with one beam.

All tasks advance together: one Backend call and one scorer call per depth for the whole
batch (the protocol is batch-first, and a per-task loop would pay per-call overhead).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.backends import Backend
from stepsieve.prm import StepScorer
from stepsieve.search._aggregate import AGGREGATIONS, aggregate
from stepsieve.search._sample import solution_trajectory
from stepsieve.worlds import Task, World

__all__ = ["BeamConfig", "SearchResult", "beam_search", "greedy_search"]


@dataclass(frozen=True)
class BeamConfig:
    """Knobs of a step-level search."""

    beam_width: int = 4  # prefixes kept per task after each step
    expand: int = 4  # next steps sampled per kept prefix (the root gets beam_width * expand)
    max_steps: int = 12  # depth limit; unfinished beams at the limit have no answer
    max_step_tokens: int = 64  # generation limit for one step
    temperature: float = 1.0
    seed: int = 0
    stop: str = "\n"  # the policy's step separator: generation of a step stops there
    aggregation: str = "min"  # ranks prefixes and picks the final answer

    def __post_init__(self) -> None:
        if self.beam_width < 1 or self.expand < 1 or self.max_steps < 1:
            raise ConfigError("beam_width, expand and max_steps must be >= 1")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {self.aggregation!r}; choose one of {', '.join(AGGREGATIONS)}")


@dataclass(slots=True)
class SearchResult:
    """The chosen solution of one task and what the search spent on it."""

    task_id: str
    steps: list[str]
    answer: str | None
    correct: bool
    step_scores: list[float]
    tokens: int = 0  # generated tokens over every candidate step sampled for this task
    candidates: int = 0  # candidate steps sampled


@dataclass(slots=True)
class _Beam:
    steps: list[str]
    scores: list[float] = field(default_factory=list)
    done: bool = False

    def value(self, how: str) -> float:
        return aggregate(self.scores, how)


def _finished(world: World, task: Task, steps: list[str]) -> bool:
    is_complete = getattr(world, "is_complete", None)
    if is_complete is not None:
        return bool(is_complete(task, steps))
    return world.parse_answer("\n".join(steps)) is not None


def beam_search(
    tasks: Sequence[Task],
    world: World,
    backend: Backend,
    scorer: StepScorer,
    config: BeamConfig = BeamConfig(),
    *,
    progress: Any = None,
) -> list[SearchResult]:
    """Step-level beam search for every task; see the module docstring."""
    how = config.aggregation
    beams: list[list[_Beam]] = [[_Beam([])] for _ in tasks]
    spent = [[0, 0] for _ in tasks]  # tokens, candidates
    for depth in range(config.max_steps):
        live = [(ti, b) for ti, bs in enumerate(beams) for b in bs if not b.done]
        if not live:
            break
        prompts = [world.prompt(tasks[ti], b.steps) for ti, b in live]
        n = config.expand if depth else config.expand * config.beam_width
        gens = backend.generate(prompts, n=n, max_tokens=config.max_step_tokens, stop=[config.stop],
                                temperature=config.temperature, seed=config.seed + depth)
        pool: list[list[_Beam]] = [[b for b in bs if b.done] for bs in beams]
        fresh: list[tuple[int, _Beam]] = []
        for (ti, parent), samples in zip(live, gens):
            seen: set[str] = set()
            for g in samples:
                spent[ti][0] += g.tokens
                spent[ti][1] += 1
                text = g.text.strip()
                if not text or text in seen:  # an empty step ends nothing; duplicates add nothing
                    continue
                seen.add(text)
                steps = [*parent.steps, text]
                child = _Beam(steps, [], _finished(world, tasks[ti], steps) or depth + 1 == config.max_steps)
                fresh.append((ti, child))
        if fresh:
            trajs = [solution_trajectory(world, tasks[ti], c.steps, f"{tasks[ti].id}@{k}")
                     for k, (ti, c) in enumerate(fresh)]
            for (ti, c), s in zip(fresh, scorer.score_steps(trajs)):
                c.scores = list(s)
                pool[ti].append(c)
        for ti in range(len(tasks)):
            if any(not b.done for b in beams[ti]):
                beams[ti] = sorted(pool[ti], key=lambda b: b.value(how), reverse=True)[: config.beam_width]
        if progress is not None:
            progress(1)
    results = []
    for ti, task in enumerate(tasks):
        done = [b for b in beams[ti] if b.done and b.steps]
        best = max(done, key=lambda b: b.value(how)) if done else _Beam([])
        answer = world.parse_answer("\n".join(best.steps)) if best.steps else None
        results.append(SearchResult(task.id, best.steps, answer, world.check_answer(task, answer),
                                    best.scores, spent[ti][0], spent[ti][1]))
    return results


def greedy_search(
    tasks: Sequence[Task],
    world: World,
    backend: Backend,
    scorer: StepScorer,
    config: BeamConfig = BeamConfig(beam_width=1),
    *,
    progress: Any = None,
) -> list[SearchResult]:
    """Reward-guided greedy: sample ``expand`` next steps, keep the best, repeat."""
    if config.beam_width != 1:
        from dataclasses import replace

        config = replace(config, beam_width=1)
    return beam_search(tasks, world, backend, scorer, config, progress=progress)
