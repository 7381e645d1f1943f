"""Scoring and grading with an implicit PRM: one forward pass of each model per trajectory.

``ImplicitScorer`` is a :class:`~stepsieve.prm.StepScorer` (search, the reward functions and
``serve-prm`` use it like a StepRM); ``ImplicitGrader`` is the ``implicit`` grader. Each step's
label carries the score (``sigmoid(q_j)`` or ``sigmoid(r_j)``, see :mod:`._implicit`) and, in
``extra``, the step reward ``r_j`` and the cumulative ``q_j``; the cost of the two passes
(2 calls, both models' tokens, the trajectory's share of the batch's seconds) is on the label
of its first step.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from stepsieve._errors import ConfigError, GraderError
from stepsieve._registry import check_options
from stepsieve.graders._plugin import GradeContext
from stepsieve.graders._protocol import grader_ref
from stepsieve.prm._grader import in_batches
from stepsieve.prm._implicit import ImplicitPRM
from stepsieve.prm._score import ScoreStats
from stepsieve.trajectory import Cost, Label, Trajectory

__all__ = ["ImplicitGrader", "ImplicitOptions", "ImplicitScorer"]


class ImplicitScorer:
    """Batched scoring with a loaded :class:`ImplicitPRM` (``score_steps`` gives P-like scores)."""

    def __init__(self, model: ImplicitPRM, *, batch_size: int = 16, score: str | None = None) -> None:
        self.model = model.eval()
        self.batch_size = batch_size
        self.score = score or model.config.score
        if self.score not in ("cumulative", "step"):
            raise ConfigError(f"implicit score must be cumulative or step, got {self.score!r}")
        self.stats = ScoreStats()
        self.last_rewards: list[list[float]] = []  # r_j of the last call, one list per trajectory

    @property
    def template(self) -> str:
        return self.model.config.template

    @property
    def separator(self) -> str:
        return self.model.config.separator

    @torch.inference_mode()
    def score_steps(self, trajectories: Sequence[Trajectory]) -> list[list[float]]:
        t0 = time.perf_counter()
        rendered = self.model.render_many([(t.task, t.steps) for t in trajectories])
        for t, r in zip(trajectories, rendered, strict=True):
            if self.model.max_length and len(r.input_ids) > self.model.max_length:
                raise GraderError(
                    f"trajectory {t.id}: {len(r.input_ids)} tokens exceed the model's "
                    f"{self.model.max_length}-token context"
                )
        render_per_token = (time.perf_counter() - t0) / max(1, sum(len(r.input_ids) for r in rendered))
        order = sorted(range(len(rendered)), key=lambda i: len(rendered[i].input_ids))
        scores: list[list[float]] = [[] for _ in rendered]
        self.last_rewards = [[] for _ in rendered]
        self.stats.per_trajectory = [(0, 0.0)] * len(rendered)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [rendered[i] for i in idx]
            t0 = time.perf_counter()
            rewards = self.model.step_rewards(batch)
            dt = time.perf_counter() - t0
            total = sum(len(r.input_ids) for r in batch)
            for i, r, rw in zip(idx, batch, rewards, strict=True):
                self.last_rewards[i] = rw.cpu().tolist()
                scores[i] = self.model.scores_from_rewards(rw, self.score).cpu().tolist()
                # Both models read every token: 2 passes, twice the tokens.
                self.stats.per_trajectory[i] = (
                    2 * len(r.input_ids),
                    (dt / total + render_per_token) * len(r.input_ids),
                )
            self.stats.passes += 2 * len(batch)
            self.stats.tokens += 2 * total
            self.stats.seconds += dt + render_per_token * total
        return scores


@dataclass(frozen=True)
class ImplicitOptions:
    """The ``implicit`` grader's options."""

    model: str | None = None  # implicit PRM checkpoint directory (default: --model)
    reference: str | None = None  # reference model directory (default: the one the checkpoint names)
    threshold: float | None = None  # score below which a step is incorrect (default: the checkpoint's)
    score: str | None = None  # cumulative (sigmoid q_j) or step (sigmoid r_j); default: the checkpoint's
    batch_size: int = 16  # trajectories per forward pass
    device: str | None = None  # torch device (default: cuda when available, else cpu)
    allow_pickle_weights: bool = False  # load pickled weights (pytorch_model.bin): they run code when loaded

    def __post_init__(self) -> None:
        check_options(self, "grader 'implicit'")
        if self.batch_size < 1:
            raise ConfigError(f"implicit batch_size must be >= 1, got {self.batch_size}")
        if self.score not in (None, "cumulative", "step"):
            raise ConfigError(f"implicit score must be cumulative or step, got {self.score!r}")


class ImplicitGrader:
    """Grades steps with an implicit PRM checkpoint and its reference."""

    Options = ImplicitOptions

    def __init__(
        self,
        model: str | Path,
        *,
        reference: str | Path | None = None,
        threshold: float | None = None,
        score: str | None = None,
        batch_size: int = 16,
        device: str | None = None,
        name: str = "implicit",
        allow_pickle_weights: bool = False,
    ) -> None:
        self._model = ImplicitPRM.load(model, device=device, reference=reference, allow_pickle=allow_pickle_weights)
        cfg = self._model.config
        self.score = score or cfg.score
        # A threshold picked for one score kind means nothing for the other.
        default_thr = cfg.threshold if self.score == cfg.score else 0.5
        self.threshold = float(threshold if threshold is not None else default_thr)
        self.name = name
        self.batch_size = batch_size
        self.config: dict[str, Any] = {
            "model": str(model),
            "reference": str(reference or cfg.reference),
            "beta": cfg.beta,
            "score": self.score,
            "threshold": self.threshold,
            "trained_on": cfg.label,
        }
        self._ref = grader_ref(name, self.config)
        self._scorer = ImplicitScorer(self._model, batch_size=batch_size, score=self.score)

    @classmethod
    def from_options(cls, options: ImplicitOptions, ctx: GradeContext) -> ImplicitGrader:
        o = options
        model = o.model or ctx.model
        if model is None:
            raise ConfigError(
                "grader 'implicit' needs a checkpoint: -o model=DIR or --model DIR "
                "(train one with `stepsieve train-prm --objective implicit`)"
            )
        return cls(
            model,
            reference=o.reference,
            threshold=o.threshold,
            score=o.score,
            batch_size=o.batch_size,
            device=o.device,
            name=ctx.label or "implicit",
            allow_pickle_weights=o.allow_pickle_weights,
        )

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        return in_batches(trajectories, self.batch_size, self._grade_batch)

    def _grade_batch(self, batch: list[Trajectory]) -> Iterator[Trajectory]:
        scores = self._scorer.score_steps(batch)
        stats = self._scorer.stats.per_trajectory
        for t, probs, rewards, (tokens, seconds) in zip(
            batch, scores, self._scorer.last_rewards, stats, strict=True
        ):
            q = 0.0
            for j, (step, p, r) in enumerate(zip(t.steps, probs, rewards, strict=True)):
                q += r
                step.labels[self.name] = Label(
                    score=p,
                    verdict="correct" if p >= self.threshold else "incorrect",
                    cost=Cost(2, tokens, 0, seconds) if j == 0 else Cost(),
                    grader=self._ref,
                    extra={"reward": r, "q": q},
                )
            yield t
