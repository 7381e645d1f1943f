"""The implicit PRM: step rewards from a policy trained on outcome labels and its frozen reference.

"Free Process Rewards without Process Labels" (Yuan et al., 2024; used as PRIME's dense
reward): train a causal LM ``π_θ`` on **outcome labels only**, with the outcome reward
parameterised as ``r_θ(y) = β · Σ_t log π_θ(y_t | y_<t) / π_ref(y_t | y_<t)``. The partial sums
are then a Q-function for free: ``q_t = β · Σ_{i ≤ t} log π_θ/π_ref`` and the process reward of
a step is the sum over its tokens, ``r_j = q_{end(j)} - q_{end(j-1)}``.

Here the steps are laid out by the one rendering (:func:`stepsieve.prm.render`), so a step's
tokens are its text and its separator, exactly as for the StepRM. Scoring costs **one forward
pass of each model per trajectory** (batched); nothing is scored per prefix.

Scores (``score`` in the config): ``cumulative`` (default) is ``sigmoid(q_j)``, the paper's
Q-value at the end of step j read as P(this prefix ends in a right answer): the CE objective
fits ``sigmoid(r_θ(y))`` to the outcome, and ``q_j`` is its value for the prefix. ``step`` is
``sigmoid(r_j)``, the step's own reward (the quantity the paper ranks best-of-N with, taking
the minimum over steps). A step is called incorrect when its score is below ``threshold``,
picked on a dev split against the **outcome** labels (the only labels it was trained with).

A checkpoint is a ``from_pretrained`` directory of the trained policy (``config.json``,
``model.safetensors``, the tokenizer) and ``stepsieve_implicit.json`` (:class:`ImplicitConfig`),
which names the reference and β; the reference is loaded from where it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from stepsieve._errors import ConfigError
from stepsieve.backends._weights import load_kwargs
from stepsieve.prm._checkpoint_config import CheckpointConfig
from stepsieve.prm._model import _quiet, default_device, load_tokenizer
from stepsieve.prm._render import Rendered, collate, render_many, separator_token_id

__all__ = ["IMPLICIT_CONFIG_NAME", "ImplicitConfig", "ImplicitPRM", "resolve_reference", "token_logprobs"]

IMPLICIT_CONFIG_NAME = "stepsieve_implicit.json"
EMBEDDED_POLICY = "embedded:policy"  # the reference when the base is the policy that ships in the package

ScoreKind = Literal["cumulative", "step"]


@dataclass
class ImplicitConfig(CheckpointConfig):
    """What an implicit PRM checkpoint was trained with (saved as ``stepsieve_implicit.json``)."""

    FILE: ClassVar[str] = IMPLICIT_CONFIG_NAME
    KIND: ClassVar[str] = "an implicit PRM"

    reference: str = EMBEDDED_POLICY  # the frozen reference model (a directory, or "embedded:policy")
    beta: float = 0.05  # r = beta * sum of log(pi_theta / pi_ref) (PRIME uses 0.05)
    objective: str = "ce"  # "ce": cross-entropy of sigmoid(r(y)) on the outcome; "dpo": pairs of one task
    score: str = "cumulative"  # "cumulative": sigmoid(q_j); "step": sigmoid(r_j)
    threshold: float = 0.5  # a step scored below it is called incorrect (picked on dev against outcomes)
    separator: str = "\n"  # step separator string; its id is read from the tokenizer at load time
    template: str = "Problem: {task}\nSolution:\n"  # the task laid out before the steps ("{task}" replaced)
    label: str = "outcome"  # what it learned from: outcome.correct, never a step label
    training: dict[str, Any] = field(default_factory=dict)  # the resolved training options and summary

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ConfigError(f"implicit PRM beta must be > 0, got {self.beta}")
        if self.objective not in ("ce", "dpo"):
            raise ConfigError(f"implicit PRM objective must be ce or dpo, got {self.objective!r}")
        if self.score not in ("cumulative", "step"):
            raise ConfigError(f"implicit PRM score must be cumulative or step, got {self.score!r}")


def resolve_reference(reference: str, checkpoint: Path | None = None) -> Path:
    """The reference's directory: ``embedded:policy``, a path as given, or relative to the checkpoint."""
    if reference == EMBEDDED_POLICY:
        return Path(__file__).resolve().parent.parent / "embedded" / "policy"
    p = Path(reference)
    if not p.is_absolute() and not p.is_dir() and checkpoint is not None and (checkpoint / p).is_dir():
        p = checkpoint / p
    if not p.is_dir():
        raise ConfigError(
            f"implicit PRM reference {reference!r} is not a model directory"
            + (f" (checkpoint {checkpoint})" if checkpoint else "")
        )
    return p


def reference_name(base: str | Path) -> str:
    """How a checkpoint names its reference: ``embedded:policy`` for the shipped policy, else the path."""
    if Path(base).resolve() == resolve_reference(EMBEDDED_POLICY).resolve():
        return EMBEDDED_POLICY
    return str(base)


def load_causal_lm(path: str | Path, *, allow_pickle: bool = False) -> nn.Module:
    """A causal LM from safetensors (pickled weights only with ``allow_pickle``; no remote code)."""
    from transformers import AutoModelForCausalLM

    kw = load_kwargs(path, allow_pickle=allow_pickle)
    return _quiet(lambda: AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, **kw))


def token_logprobs(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[batch, t]``: log P(token i | tokens < i) for i >= 1 (column 0 is 0: nothing predicts the bos)."""
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    return torch.nn.functional.pad(lp, (1, 0))


def step_sums(values: torch.Tensor, batch: list[Rendered]) -> list[torch.Tensor]:
    """Per trajectory, the sum of ``values[i, p]`` over each step's tokens (text and separator)."""
    out = []
    for i, r in enumerate(batch):
        cums = values[i].cumsum(0)
        ends = torch.tensor(r.step_positions, dtype=torch.long, device=values.device)
        at = cums[ends]
        start = cums[r.steps_start - 1 : r.steps_start] if r.steps_start > 0 else cums.new_zeros(1)
        before = torch.cat([start, at[:-1]])
        out.append(at - before)
    return out


def response_mask(batch: list[Rendered], width: int) -> torch.Tensor:
    """``[batch, width]``: 1 on every step token (the response), 0 on bos, task and padding."""
    m = torch.zeros((len(batch), width))
    for i, r in enumerate(batch):
        if r.step_positions:
            m[i, r.steps_start : r.step_positions[-1] + 1] = 1.0
    return m


class ImplicitPRM(nn.Module):
    """A trained policy ``π_θ`` and its frozen reference ``π_ref`` (see the module docstring)."""

    def __init__(
        self, policy: nn.Module, reference: nn.Module, tokenizer: Any, config: ImplicitConfig
    ) -> None:
        super().__init__()
        self.policy = policy
        self.reference = reference.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.config = config
        self.separator_id = separator_token_id(tokenizer, config.separator)
        self.max_length = int(getattr(policy.config, "max_position_embeddings", 0) or 0) or None

    @classmethod
    def from_base(cls, base: str | Path, config: ImplicitConfig, *, allow_pickle: bool = False) -> ImplicitPRM:
        """A fresh implicit PRM: ``π_θ`` starts as a copy of the reference (the base)."""
        lm = load_causal_lm
        return cls(lm(base, allow_pickle=allow_pickle), lm(base, allow_pickle=allow_pickle), load_tokenizer(base),
                   config)

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        device: str | torch.device | None = None,
        reference: str | Path | None = None,
        allow_pickle: bool = False,
    ) -> ImplicitPRM:
        """Load a checkpoint written by :meth:`save`; ``reference`` overrides the one it names."""
        d = Path(directory)
        config = ImplicitConfig.load(d)
        ref = resolve_reference(str(reference) if reference is not None else config.reference, d)
        lm = load_causal_lm
        model = cls(lm(d, allow_pickle=allow_pickle), lm(ref, allow_pickle=allow_pickle), load_tokenizer(d), config)
        model.eval()
        return model.to(device or default_device())

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        policy: Any = self.policy
        _quiet(lambda: policy.save_pretrained(str(d), safe_serialization=True))
        self.tokenizer.save_pretrained(str(d))
        self.config.save(d)
        return d

    @property
    def device(self) -> torch.device:
        return next(self.policy.parameters()).device

    def render_many(self, items: Any) -> list[Rendered]:
        """The one rendering (:func:`stepsieve.prm.render_many`) with this model's separator and template."""
        return render_many(self.tokenizer, items, self.separator_id, template=self.config.template)

    def _collate(self, batch: list[Rendered]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = collate(batch, self.tokenizer.pad_token_id)
        return ids.to(self.device), mask.to(self.device)

    def token_logratios(self, batch: list[Rendered]) -> torch.Tensor:
        """``[batch, t]``: log π_θ - log π_ref of every token: one pass of each model."""
        ids, mask = self._collate(batch)
        with torch.no_grad():
            ref = token_logprobs(self.reference, ids, mask)
        return token_logprobs(self.policy, ids, mask) - ref

    def step_rewards(self, batch: list[Rendered]) -> list[torch.Tensor]:
        """Per trajectory, ``r_j = β · Σ_{tokens of step j} log π_θ/π_ref``."""
        return [self.config.beta * s for s in step_sums(self.token_logratios(batch), batch)]

    def scores_from_rewards(self, rewards: torch.Tensor, kind: str | None = None) -> torch.Tensor:
        """Step scores in (0, 1) from step rewards: ``sigmoid(cumsum(r))`` or ``sigmoid(r)``."""
        kind = kind or self.config.score
        return torch.sigmoid(rewards.cumsum(0) if kind == "cumulative" else rewards)
