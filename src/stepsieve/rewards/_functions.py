"""Reward functions for RL trainers, scoring completions' steps with a StepRM or implicit PRM.

* TRL ``GRPOTrainer(reward_funcs=[StepRewardFunction(model_dir, aggregate="min")])``: TRL calls
  ``f(prompts=..., completions=..., completion_ids=..., **dataset_columns)`` and wants one float
  per completion. Prompts and completions are strings (standard datasets) or lists of chat
  messages (conversational ones).
* veRL ``custom_reward_function`` (``path`` = this module's file or a wrapper, ``name`` =
  ``compute_score``): veRL calls ``compute_score(data_source, solution_str, ground_truth,
  extra_info)`` and takes a float or a dict with a ``score`` key; ``reward_kwargs`` from its
  config arrive as keyword arguments (``model=DIR``, ``aggregate="min"``). veRL hands over the
  response only, so the task is read from ``extra_info["prompt"]`` (or ``"question"``).

Every call scores all its completions in one batched call: one forward pass per trajectory.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.prm._load import LoadedScorer, load_scorer, task_from_prompt, text_to_trajectory
from stepsieve.search import AGGREGATIONS, aggregate
from stepsieve.search import aggregate as aggregate_scores
from stepsieve.trajectory import Trajectory

__all__ = ["StepRewardFunction", "compute_score"]


def _text(x: Any) -> str:
    """A prompt or completion as text: a string, or the contents of chat messages."""
    if isinstance(x, str):
        return x
    if isinstance(x, list):
        return "\n".join(str(m.get("content") or "") for m in x if isinstance(m, dict))
    raise ConfigError(f"expected a string or a list of chat messages, got {type(x).__name__}")


def _task(prompt: Any, template: str) -> Any:
    if isinstance(prompt, list):  # conversational: the task is the user's message when it is alone
        users = [m for m in prompt if isinstance(m, dict) and m.get("role") != "assistant"]
        if len(users) == 1:
            return task_from_prompt(_text(users), template)
        return [{"role": m.get("role", "user"), "content": _text([m])} for m in users]
    return task_from_prompt(_text(prompt), template)


class StepRewardFunction:
    """Scores completions with a step reward model and aggregates the step scores to one reward.

    ``model``: a StepRM or implicit PRM directory (default: the embedded StepRM);
    ``aggregate``: ``min`` | ``last`` | ``mean`` | ``prod``. ``calls`` and ``history`` (the
    rewards each call returned) let a caller check what reached the trainer.
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        aggregate: str = "min",
        batch_size: int = 16,
        device: str | None = None,
        score: str | None = None,
        separator: str | None = None,
        name: str = "stepsieve_prm",
        loaded: LoadedScorer | None = None,
    ) -> None:
        if aggregate not in AGGREGATIONS:
            raise ConfigError(f"aggregate must be one of {', '.join(AGGREGATIONS)}, got {aggregate!r}")
        self.loaded = loaded or load_scorer(model, device=device, batch_size=batch_size, score=score)
        self.aggregate = aggregate
        self.separator = separator or self.loaded.separator
        self.__name__ = name  # TRL names the logged metric after it: rewards/<name>/mean
        tok = getattr(getattr(self.loaded.scorer, "model", None), "tokenizer", None)
        self._specials = tuple(
            s for s in (getattr(tok, "eos_token", None), getattr(tok, "pad_token", None)) if s
        )
        self.calls = 0
        self.history: list[list[float]] = []
        self._lock = threading.Lock()

    def step_scores(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[list[float]]:
        """Per completion, the score of each of its steps (an empty completion has none)."""
        if len(prompts) != len(completions):
            raise ConfigError(f"{len(prompts)} prompts but {len(completions)} completions")
        trajs: list[Trajectory] = [
            text_to_trajectory(
                _task(p, self.loaded.template), _text(c), self.separator, tid=str(i), specials=self._specials
            )
            for i, (p, c) in enumerate(zip(prompts, completions, strict=True))
        ]
        live = [t for t in trajs if t.steps]
        with self._lock:  # one model, one caller at a time
            scores = iter(self.loaded.scorer.score_steps(live) if live else [])
        return [next(scores) if t.steps else [] for t in trajs]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float]:
        rewards = [aggregate(s, self.aggregate) for s in self.step_scores(prompts, completions)]
        self.calls += 1
        self.history.append(rewards)
        return rewards


_DEFAULT: dict[tuple[str, str], StepRewardFunction] = {}
_DEFAULT_LOCK = threading.Lock()


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    *,
    model: str | None = None,
    aggregate: str = "min",
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL's custom reward function: ``{"score": the aggregated step scores, "prm_steps", "prm_min",
    "prm_last"}``.

    The model is loaded once per process and ``(model, aggregate)``. ``ground_truth`` and
    ``data_source`` are not used (the step reward model needs no reference answer).
    """
    info = extra_info or {}
    prompt = info.get("prompt", info.get("question", ""))
    key = (str(model or ""), aggregate)
    with _DEFAULT_LOCK:
        fn = _DEFAULT.get(key)
        if fn is None:
            fn = _DEFAULT[key] = StepRewardFunction(model, aggregate=aggregate)
    steps = fn.step_scores([prompt], [solution_str])[0]
    return {
        "score": aggregate_scores(steps, aggregate),
        "prm_steps": float(len(steps)),
        "prm_min": min(steps) if steps else 0.0,
        "prm_last": steps[-1] if steps else 0.0,
    }
