"""Sampling N full solutions per task through a Backend and scoring their steps with a PRM.

The pool this builds is what best-of-N, weighted and plain majority vote choose from, and
what the accuracy-vs-N curves subsample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepsieve.backends import Backend
from stepsieve.prm import StepScorer
from stepsieve.search._select import Candidate
from stepsieve.trajectory import Step, Trajectory
from stepsieve.worlds import Task, World

__all__ = ["sample_candidates", "score_candidates", "solution_trajectory"]


def solution_trajectory(world: World, task: Task, steps: Sequence[str], tid: str) -> Trajectory:
    """A (partial) solution as a Trajectory, laid out as the sampler writes them (the task is
    the problem text, ``meta`` carries the world and the task), so the PRM sees in search
    exactly the layout it was trained on."""
    meta: dict[str, Any] = {
        "world": getattr(world, "name", ""),
        "task": {"id": task.id, "problem": task.problem, "answer": task.answer, "data": task.data},
    }
    return Trajectory(tid, task.problem, [Step(i, s) for i, s in enumerate(steps)], meta=meta)


def sample_candidates(
    tasks: Sequence[Task],
    world: World,
    backend: Backend,
    scorer: StepScorer | None,
    *,
    n: int,
    max_tokens: int = 256,
    temperature: float = 1.0,
    seed: int = 0,
    batch_tasks: int = 8,
    progress: Any = None,
) -> list[list[Candidate]]:
    """``n`` sampled solutions per task, each with its answer, correctness, tokens and PRM
    step scores (empty when ``scorer`` is None)."""
    pools: list[list[Candidate]] = []
    for start in range(0, len(tasks), batch_tasks):
        chunk = tasks[start : start + batch_tasks]
        gens = backend.generate([world.prompt(t) for t in chunk], n=n, max_tokens=max_tokens,
                                temperature=temperature, seed=seed)
        trajs: list[Trajectory] = []
        owners: list[Candidate] = []
        for task, samples in zip(chunk, gens):
            pool = []
            for j, g in enumerate(samples):
                steps = world.split_steps(g.text)
                answer = world.parse_answer(g.text)
                c = Candidate(steps, answer, [], g.tokens, world.check_answer(task, answer))
                pool.append(c)
                if steps and scorer is not None:
                    trajs.append(solution_trajectory(world, task, steps, f"{task.id}#{j}"))
                    owners.append(c)
            pools.append(pool)
        if scorer is not None and trajs:
            for c, s in zip(owners, scorer.score_steps(trajs)):
                c.step_scores = list(s)
        if progress is not None:
            progress(len(chunk))
    return pools


def score_candidates(
    tasks: Sequence[Task], world: World, pools: Sequence[Sequence[Candidate]], scorer: StepScorer,
    *, batch_tasks: int = 8,
) -> None:
    """(Re)score the steps of already sampled pools in place: one pool, many reward models."""
    for start in range(0, len(tasks), batch_tasks):
        trajs: list[Trajectory] = []
        owners: list[Candidate] = []
        for task, pool in zip(tasks[start : start + batch_tasks], pools[start : start + batch_tasks]):
            for j, c in enumerate(pool):
                c.step_scores = []
                if c.steps:
                    trajs.append(solution_trajectory(world, task, c.steps, f"{task.id}#{j}"))
                    owners.append(c)
        if trajs:
            for c, s in zip(owners, scorer.score_steps(trajs)):
                c.step_scores = list(s)
