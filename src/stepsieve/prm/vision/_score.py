"""Scoring with a vision StepRM: every step of a trajectory in one pass, batched.

A :class:`~stepsieve.prm.StepScorer`: ``score_steps(trajectories)`` resolves each step's
screenshots through a :class:`~stepsieve.media.MediaResolver` bound to the record file (the
``prm`` grader binds it to its input), so a missing or altered image is an error naming the
file, its line (``line_of``), the trajectory and the step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from stepsieve._errors import DataError
from stepsieve.media import MediaResolver
from stepsieve.prm._score import ScoreStats
from stepsieve.prm.vision._inputs import ImageCache, StepInputs, trajectory_inputs
from stepsieve.prm.vision._model import VisionStepRM
from stepsieve.trajectory import Trajectory

__all__ = ["VisionScorer"]


class VisionScorer:
    """Batched one-pass scoring with a loaded :class:`VisionStepRM`.

    ``stats.tokens`` counts steps (the unit of a vision StepRM's work); ``flops`` adds the
    forward FLOPs of every scored step (``VisionStepRM.flops_per_step``).
    """

    def __init__(
        self, model: VisionStepRM, *, resolver: MediaResolver | None = None, batch_size: int = 16,
        line_of: Callable[[str], int | None] | None = None,
    ) -> None:
        self.model = model.eval()
        self.resolver = resolver or MediaResolver(None)
        self.batch_size = batch_size
        self.line_of = line_of  # trajectory id -> its line in the record file, asked only on an error
        self.cache = ImageCache(model.config.screen)
        self.stats = ScoreStats()
        self.flops = 0
        self._step_flops = model.flops_per_step()

    def _inputs(self, t: Trajectory) -> StepInputs:
        try:
            return trajectory_inputs(t, self.resolver, self.cache, buckets=self.model.config.buckets,
                                     band=self.model.config.band)
        except DataError as e:
            if e.line is None and self.line_of is not None:
                raise e.located(line=self.line_of(t.id)) from None
            raise

    @torch.inference_mode()
    def score_steps(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        scores: list[list[float]] = []
        self.stats.per_trajectory = []
        for start in range(0, len(trajectories), self.batch_size):
            chunk = trajectories[start : start + self.batch_size]
            t0 = time.perf_counter()
            batch = [self._inputs(t) for t in chunk]
            logits = self.model(batch)
            dt = time.perf_counter() - t0
            steps = sum(len(t.steps) for t in chunk)
            for t, lg in zip(chunk, logits):
                scores.append(torch.sigmoid(lg).cpu().tolist())
                self.stats.per_trajectory.append((len(t.steps), dt * len(t.steps) / max(1, steps)))
            self.stats.passes += len(chunk)
            self.stats.tokens += steps
            self.stats.seconds += dt
            self.flops += steps * self._step_flops
        return scores
