"""Scoring steps with a StepRM: every step of a trajectory in one forward pass, batched.

``StepScorer`` is the small protocol search and the ``prm`` grader depend on; anything with
``score_steps`` (a StepRM, a scripted fake in tests, a remote reward model) plugs in.
``score_per_prefix`` is the baseline that ProcessBench-style servers use (one pass per prefix);
it exists for the benchmark and for the test that proves both give the same scores.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from stepsieve._errors import GraderError
from stepsieve.prm._model import StepRM
from stepsieve.prm._render import Rendered
from stepsieve.trajectory import Trajectory

__all__ = ["ScoreStats", "StepRMScorer", "StepScorer", "score_per_prefix"]


@runtime_checkable
class StepScorer(Protocol):
    """Scores steps: ``result[i][j]`` = P(step j of trajectory i is correct)."""

    def score_steps(self, trajectories: Sequence[Trajectory]) -> list[list[float]]: ...


@dataclass
class ScoreStats:
    """What scoring cost so far: forward passes (one per sequence), tokens fed, seconds."""

    passes: int = 0
    tokens: int = 0
    seconds: float = 0.0
    per_trajectory: list[tuple[int, float]] = field(default_factory=list)  # (tokens, seconds) of the last call


class StepRMScorer:
    """Batched one-pass scoring with a loaded :class:`StepRM`."""

    def __init__(self, model: StepRM, *, batch_size: int = 16) -> None:
        self.model = model.eval()
        self.batch_size = batch_size
        self.stats = ScoreStats()

    def _render(self, trajectories: Sequence[Trajectory]) -> list[Rendered]:
        out = self.model.render_many([(t.task, t.steps) for t in trajectories])
        for t, r in zip(trajectories, out):
            if self.model.max_length and len(r.input_ids) > self.model.max_length:
                raise GraderError(
                    f"trajectory {t.id}: {len(r.input_ids)} tokens exceed the reward model's "
                    f"{self.model.max_length}-token context"
                )
        return out

    @torch.inference_mode()
    def score_steps(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        t0 = time.perf_counter()
        rendered = self._render(trajectories)
        # Rendering (tokenizing) is part of what scoring costs: shared by tokens like the passes.
        render_per_token = (time.perf_counter() - t0) / max(1, sum(len(r.input_ids) for r in rendered))
        # Similar lengths share a batch so little compute goes to padding.
        order = sorted(range(len(rendered)), key=lambda i: len(rendered[i].input_ids))
        scores: list[list[float]] = [[] for _ in rendered]
        self.stats.per_trajectory = [(0, 0.0)] * len(rendered)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [rendered[i] for i in idx]
            t0 = time.perf_counter()
            logits = self.model.step_logits(batch)
            probs = [torch.sigmoid(x.float()).cpu().tolist() for x in logits]
            dt = time.perf_counter() - t0
            total = sum(len(r.input_ids) for r in batch)
            for i, r, p in zip(idx, batch, probs):
                scores[i] = p
                # A trajectory's share of the batch's time, by its share of the tokens.
                self.stats.per_trajectory[i] = (len(r.input_ids),
                                                (dt / total + render_per_token) * len(r.input_ids))
            self.stats.passes += len(batch)
            self.stats.tokens += total
            self.stats.seconds += dt + render_per_token * total
        return scores


@torch.no_grad()
def score_per_prefix(
    model: StepRM, trajectories: Sequence[Trajectory], *, batch_size: int = 16, stats: ScoreStats | None = None
) -> list[list[float]]:
    """The baseline: one forward pass per step prefix, reading the head at its last separator."""
    model.eval()
    jobs: list[tuple[int, Rendered]] = []
    for i, t in enumerate(trajectories):
        for k in range(1, len(t.steps) + 1):
            jobs.append((i, model.render(t.task, t.steps[:k])))
    scores: list[list[float]] = [[] for _ in trajectories]
    t0 = time.perf_counter()
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start : start + batch_size]
        logits = model.step_logits([r for _, r in chunk])
        for (i, _), x in zip(chunk, logits):
            scores[i].append(float(torch.sigmoid(x.float())[-1]))  # the prefix's last step
        if stats is not None:
            stats.passes += len(chunk)
            stats.tokens += sum(len(r.input_ids) for _, r in chunk)
    if stats is not None:
        stats.seconds += time.perf_counter() - t0
    return scores
