"""The step reward model: a causal-LM backbone and a scalar head read at each step separator.

A checkpoint is a plain ``from_pretrained`` directory: the backbone's ``config.json`` and
``model.safetensors`` (loadable with ``transformers.AutoModel``), the tokenizer, the head in
``prm_head.safetensors``, and ``stepsieve_prm.json`` (:class:`StepRMConfig`) beside them,
so a checkpoint always says which separator, label and base it was trained with. A
``policy``/``logprobs`` head on a base with untied embeddings also carries the base's frozen
LM head in ``prm_lm_head.safetensors``, so the checkpoint reloads offline without the base.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, cast

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stepsieve._errors import ConfigError
from stepsieve.backends._weights import load_kwargs
from stepsieve.prm._checkpoint_config import CheckpointConfig
from stepsieve.prm._features import N_POLICY_FEATURES, policy_features
from stepsieve.prm._render import DEFAULT_TEMPLATE, Rendered, collate, render, render_many, separator_token_id

__all__ = ["CONFIG_NAME", "HEAD_NAME", "LM_HEAD_NAME", "StepRM", "StepRMConfig", "load_tokenizer"]

CONFIG_NAME = "stepsieve_prm.json"
HEAD_NAME = "prm_head.safetensors"
LM_HEAD_NAME = "prm_lm_head.safetensors"  # the base's frozen LM head (untied bases only)
_LM_HEAD_KEY = "lm_head.weight"


@dataclass
class StepRMConfig(CheckpointConfig):
    """What a StepRM checkpoint was trained with (saved as ``stepsieve_prm.json``)."""

    FILE: ClassVar[str] = CONFIG_NAME
    KIND: ClassVar[str] = "a StepRM"

    separator: str = "\n"  # step separator string; its id is read from the tokenizer at load time
    label: str = ""  # the label name it was trained on (e.g. "mc"); never "truth" for distillation
    base: str = ""  # the base model directory or name the backbone started from
    soft: bool = False  # trained on soft (float) targets rather than hard verdicts
    threshold: float = 0.5  # P(correct) below which a step is called incorrect (tuned on a dev split)
    template: str = DEFAULT_TEMPLATE  # how the task is laid out before the steps ("{task}" is replaced)
    head: str = "linear"  # "linear": Linear(hidden, 1) at the separator; "policy": an MLP over the
    # separator's hidden state and the backbone's own token log-probabilities of the step;
    # "logprobs": that MLP over the log-probability features alone
    head_width: int = 64  # hidden units of the "policy" head's MLP
    freeze_backbone: bool = False  # train the head only (the backbone stays the base model)
    training: dict[str, Any] = field(default_factory=dict)  # the resolved training options and summary


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of a model directory (quietly: no hub access, no load banners)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token_id is None:
        # Padding is masked out; any id works, eos is the usual choice.
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


class StepRM(nn.Module):
    """Backbone (``AutoModel``: the LM without its LM head) + ``Linear(hidden, 1)``.

    ``forward`` returns one logit per token; callers read the logits at the separator
    positions that :func:`stepsieve.prm.render` recorded. P(step correct) = sigmoid(logit).
    """

    def __init__(
        self, backbone: nn.Module, tokenizer: Any, config: StepRMConfig, lm_head: torch.Tensor | None = None
    ) -> None:
        """``lm_head`` (``[vocab, hidden]``): the base's LM head weight, needed by the
        ``policy``/``logprobs`` heads when the base's embeddings are untied (a frozen buffer)."""
        super().__init__()
        # a transformers PreTrainedModel: its config and methods are not in nn.Module's type
        self.backbone: Any = backbone
        bb: Any = backbone
        hidden = bb.config.hidden_size
        self.register_buffer("lm_head", None, persistent=False)
        if config.head == "linear":
            self.head: nn.Module = nn.Linear(hidden, 1)
        elif config.head in ("policy", "logprobs"):
            if needs_lm_head(bb.config, config):
                if lm_head is None:
                    raise ConfigError(f"the {config.head!r} head reads the base's LM head: its embeddings are "
                                      "untied, so pass the base's lm_head weight (from_base and load read it)")
                vocab = bb.get_input_embeddings().weight.shape[0]
                if tuple(lm_head.shape) != (vocab, hidden):
                    raise ConfigError(f"LM head shape {tuple(lm_head.shape)} does not match the backbone's "
                                      f"({vocab}, {hidden})")
                self.lm_head = lm_head.detach().to(torch.float32).requires_grad_(False)
            width = N_POLICY_FEATURES + (hidden if config.head == "policy" else 0)
            self.head = nn.Sequential(nn.Linear(width, config.head_width), nn.GELU(), nn.Linear(config.head_width, 1))
        else:
            raise ConfigError(f"unknown StepRM head {config.head!r}: linear, policy or logprobs")
        self.tokenizer = tokenizer
        self.config = config
        self.separator_id = separator_token_id(tokenizer, config.separator)
        self.max_length = int(getattr(backbone.config, "max_position_embeddings", 0) or 0) or None

    # ---- construction -----------------------------------------------------------------

    @classmethod
    def from_base(cls, base: str | Path, config: StepRMConfig, *, seed: int = 0, allow_pickle: bool = False) -> StepRM:
        """A fresh StepRM: the backbone of ``base`` and a small-init head. ``base`` must hold
        safetensors unless ``allow_pickle`` (see ``backends._weights``)."""
        from transformers import AutoModel

        kw = load_kwargs(base, allow_pickle=allow_pickle, what="base model")
        backbone = _quiet(lambda: AutoModel.from_pretrained(str(base), dtype=torch.float32, **kw))
        lm_head = read_lm_head(base) if needs_lm_head(backbone.config, config) else None
        torch.manual_seed(seed)
        model = cls(backbone, load_tokenizer(base), config, lm_head)
        # A near-zero output layer starts every step at P = 0.5 so early gradients are balanced.
        head = model.head
        last = cast(nn.Linear, head if isinstance(head, nn.Linear) else cast(nn.Sequential, head)[-1])
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)
        if config.freeze_backbone:
            model.backbone.requires_grad_(False)
        return model

    @classmethod
    def load(
        cls, directory: str | Path, *, device: str | torch.device | None = None, allow_pickle: bool = False
    ) -> StepRM:
        """Load a checkpoint written by :meth:`save` (its backbone as safetensors unless ``allow_pickle``);
        a vision-language StepRM's directory (``stepsieve_vlm_prm.json``) loads as a ``VLMStepRM``."""
        from transformers import AutoModel

        d = Path(directory)
        if cls is StepRM and not (d / CONFIG_NAME).is_file():
            from stepsieve.prm._vlm import VLM_CONFIG_NAME, VLMStepRM

            if (d / VLM_CONFIG_NAME).is_file():
                return VLMStepRM.load(d, device=device, allow_pickle=allow_pickle)
        config = StepRMConfig.load(d)
        if not (d / HEAD_NAME).is_file():
            raise ConfigError(f"{d} is not a StepRM checkpoint: no {HEAD_NAME}")
        kw = load_kwargs(d, allow_pickle=allow_pickle, what="StepRM checkpoint")
        backbone = _quiet(lambda: AutoModel.from_pretrained(str(d), dtype=torch.float32, **kw))
        lm_head = read_lm_head(d) if needs_lm_head(backbone.config, config) else None
        return cls(backbone, load_tokenizer(d), config, lm_head)._ready(d, device)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        _quiet(lambda: self.backbone.save_pretrained(str(d), safe_serialization=True))
        self.tokenizer.save_pretrained(str(d))
        self._save_head(d)
        if self.lm_head is not None:
            save_file({_LM_HEAD_KEY: self.lm_head.detach().cpu().contiguous()}, str(d / LM_HEAD_NAME))
        self.config.save(d)
        return d

    def _ready(self, d: Path, device: str | torch.device | None) -> Self:
        """This model with the head's weights of checkpoint ``d``, in eval mode, on ``device``."""
        self.head.load_state_dict(load_file(str(d / HEAD_NAME)))
        self.eval()
        return self.to(device or default_device())

    def _save_head(self, d: Path) -> None:
        head = {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
        save_file(head, str(d / HEAD_NAME))

    # ---- compute ----------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def render(self, task: Any, steps: Any) -> Rendered:
        """The one rendering (:func:`stepsieve.prm.render`) with this model's separator and template."""
        return render(self.tokenizer, task, steps, self.separator_id, template=self.config.template)

    def render_many(self, items: Any) -> list[Rendered]:
        """:meth:`render` for many ``(task, steps)`` pairs (one batched tokenizer call)."""
        return render_many(self.tokenizer, items, self.separator_id, template=self.config.template)

    def step_features(self, batch: list[Rendered]) -> list[torch.Tensor]:
        """One forward pass over a batch; each trajectory's head inputs, one row per step.

        "linear": the hidden state at the separator. "policy": that, and the backbone's own
        log-probabilities of the step's tokens (see :mod:`stepsieve.prm._features`).
        "logprobs": those log-probability features alone. The LM head is the input embeddings
        when the base ties them, else the base's own (frozen) ``lm_head``.
        """
        ids, mask = collate(batch, self.tokenizer.pad_token_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        hidden = self.backbone(input_ids=ids, attention_mask=mask).last_hidden_state
        rows = torch.arange(len(batch), device=hidden.device)
        width = max(len(r.step_positions) for r in batch)
        pos = torch.zeros((len(batch), max(width, 1)), dtype=torch.long, device=hidden.device)
        for i, r in enumerate(batch):
            pos[i, : len(r.step_positions)] = torch.tensor(r.step_positions, dtype=torch.long)
        at_sep = hidden[rows[:, None], pos]  # [batch, steps, hidden]
        if self.config.head != "linear":
            lm = self.lm_head if self.lm_head is not None else self.backbone.get_input_embeddings().weight
            lp = policy_features(hidden, lm, ids, batch, width)
            at_sep = lp if self.config.head == "logprobs" else torch.cat([at_sep, lp], dim=-1)
        return [at_sep[i, : len(r.step_positions)] for i, r in enumerate(batch)]

    def head_logits(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The head over per-step features (one call for the whole batch)."""
        flat = self.head(torch.cat(features, dim=0)).squeeze(-1)
        return list(torch.split(flat, [len(f) for f in features]))

    def step_logits(self, batch: list[Rendered]) -> list[torch.Tensor]:
        """One forward pass over a batch; the logits at each trajectory's separators."""
        return self.head_logits(self.step_features(batch))


def needs_lm_head(model_config: Any, config: StepRMConfig) -> bool:
    """A log-prob head on a base whose output embeddings are not its input embeddings."""
    return config.head in ("policy", "logprobs") and not getattr(model_config, "tie_word_embeddings", False)


def read_lm_head(directory: str | Path) -> torch.Tensor:
    """The LM head weight of a model directory, read from its safetensors (never unpickled).

    Looks in a StepRM's ``prm_lm_head.safetensors``, then the base's ``model.safetensors``
    or, for a sharded base, the shard that ``model.safetensors.index.json`` names.
    """
    from safetensors import safe_open

    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(f"{d}: untied embeddings need the base as a local directory to read {_LM_HEAD_KEY}")
    candidates = [d / LM_HEAD_NAME, d / "model.safetensors"]
    index = d / "model.safetensors.index.json"
    if index.is_file():
        try:
            shard = json.loads(index.read_text()).get("weight_map", {}).get(_LM_HEAD_KEY)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{index}: line {e.lineno}: not valid JSON ({e.msg})") from e
        if shard:
            candidates.insert(1, d / shard)
    for path in candidates:
        if path.is_file():
            with safe_open(str(path), framework="pt") as f:
                if _LM_HEAD_KEY in f.keys():  # noqa: SIM118 - safetensors' safe_open has keys(), no __contains__
                    return f.get_tensor(_LM_HEAD_KEY).to(torch.float32)
    raise ConfigError(f"{d}: untied embeddings but no {_LM_HEAD_KEY} in its safetensors "
                      f"({LM_HEAD_NAME}, model.safetensors or the shards of model.safetensors.index.json)")


def default_device() -> torch.device:
    """CUDA when present, else CPU: the same code trains the embedded model and a real one."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _quiet(fn: Any) -> Any:
    """Run a transformers load/save with its progress bars and load reports silenced."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return fn()
    finally:
        hf_logging.set_verbosity(level)
        hf_logging.enable_progress_bar()
