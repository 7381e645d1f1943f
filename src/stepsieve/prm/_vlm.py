"""The StepRM on a Hugging Face vision-language model: screenshots in view, a head per step.

A GUI step is judged on what the agent saw and what its action did to the screen. Here the
backbone is a vision-language model (``AutoModelForImageTextToText``: the Qwen2-VL /
Qwen2.5-VL family) and a trajectory is rendered as the chat the model was trained on, by the
model's own processor (``apply_chat_template``, then ``processor(text=, images=)``, which
expands each image into its patch tokens)::

    [system ...]   user: task + the screen before step 0
    assistant: thought + action of step 0
    user: observation of step 0 + the screen after it   <|im_end|>  <- head of step 0
    assistant: step 1 ...                                            <- head of step 1 ...

The head (``Linear(hidden, 1)``) is read at the end-of-turn token (``--separator``, default
``<|im_end|>``) that closes each step's observation turn, so, as in the text StepRM, an action is
judged with its result in view, and one causal pass scores every step as if its prefix were
scored alone. A step's ``before`` screenshot that is the previous step's ``after`` one (same
sha256) is shown once, in that step's observation turn (a screen seen again in a later turn is
shown again). A step with neither observation text nor a result screenshot has no observation
turn: its head is read at the end of its own turn.

The checkpoint is the VLM's own ``save_pretrained`` directory (safetensors), the base's processor
files, the head in ``prm_head.safetensors`` and ``stepsieve_vlm_prm.json``
(:class:`VLMStepRMConfig`), so ``AutoModelForImageTextToText.from_pretrained(DIR)`` still loads
the backbone and ``load_scorer`` tells it from a text StepRM by that file.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from stepsieve._errors import ConfigError, DataError
from stepsieve.backends._vl_processor import load_vl_processor
from stepsieve.backends._weights import load_kwargs
from stepsieve.media import MediaResolver
from stepsieve.prm._model import HEAD_NAME, StepRM, StepRMConfig, _quiet
from stepsieve.prm._render import DEFAULT_TEMPLATE, Rendered, collate, separator_token_id
from stepsieve.trajectory import MediaRef, Step

__all__ = ["VLM_CONFIG_NAME", "VLM_SEPARATOR", "VLMRendered", "VLMStepRM", "VLMStepRMConfig", "is_vlm"]

VLM_CONFIG_NAME = "stepsieve_vlm_prm.json"
VLM_SEPARATOR = "<|im_end|>"  # the Qwen chat templates' end of turn
# The processor's files, copied from a local base as they are (its video part included, which
# this machine may not be able to load but a GPU machine with torchvision will).
_PROCESSOR_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json",
    "chat_template.json", "chat_template.jinja",
)


def is_vlm(base: str | Path) -> bool:
    """Whether ``base`` is a vision-language model: its ``config.json`` has a vision part.

    Read from the directory's config (or ``AutoConfig`` for a hub name), never with remote code.
    """
    cfg_file = Path(base) / "config.json"
    if cfg_file.is_file():
        try:
            cfg = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{cfg_file}: line {e.lineno}: not valid JSON ({e.msg})") from e
        return isinstance(cfg, dict) and isinstance(cfg.get("vision_config"), dict)
    if Path(base).exists():
        return False
    from transformers import AutoConfig

    try:
        return getattr(AutoConfig.from_pretrained(str(base)), "vision_config", None) is not None
    except (OSError, ValueError):
        return False  # the text StepRM's loader reports what is wrong with it


@dataclass
class VLMStepRMConfig(StepRMConfig):
    """A text StepRM's config, for a VLM (saved as ``stepsieve_vlm_prm.json``).

    ``separator`` is the end-of-turn token the head is read at; ``template`` stays ``{task}\\n``
    (the chat template lays the conversation out); ``head`` is ``linear``.
    """

    FILE: ClassVar[str] = VLM_CONFIG_NAME
    KIND: ClassVar[str] = "a vision-language StepRM"

    separator: str = VLM_SEPARATOR
    observation_text: bool = True  # the observation turn holds the step's observation text (else images only)


@dataclass(slots=True)
class VLMRendered(Rendered):
    """A rendered trajectory and the screenshots its image tokens stand for, in order."""

    images: list[MediaRef] | None = None
    mm_token_type_ids: list[int] | None = None  # the processor's modality of each token (M-RoPE reads it)


class VLMStepRM(StepRM):
    """A VLM backbone (``AutoModelForImageTextToText``; its language model's last hidden state is
    read) + ``Linear(hidden, 1)``. ``media`` resolves the records' screenshots (set it to
    ``MediaResolver(record_file)`` before rendering records that carry images)."""

    config: VLMStepRMConfig

    def __init__(self, backbone: nn.Module, processor: Any, config: VLMStepRMConfig) -> None:
        nn.Module.__init__(self)
        _check(config)
        bb: Any = backbone  # a transformers PreTrainedModel
        self.backbone: Any = bb
        self.register_buffer("lm_head", None, persistent=False)
        text_config = bb.config.get_text_config()
        self.head: nn.Module = nn.Linear(text_config.hidden_size, 1)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.config = config
        self.separator_id = separator_token_id(self.tokenizer, config.separator)
        self.max_length = int(getattr(text_config, "max_position_embeddings", 0) or 0) or None
        self.media = MediaResolver(None)
        self.base_dir: Path | None = None  # where save() copies the processor files from

    # ---- construction -----------------------------------------------------------------

    @classmethod
    def from_base(cls, base: str | Path, config: StepRMConfig, *, seed: int = 0,
                  allow_pickle: bool = False) -> VLMStepRM:
        """A fresh VLM StepRM: ``base``'s VLM and processor and a near-zero head."""
        if not isinstance(config, VLMStepRMConfig):
            raise ConfigError("a vision-language StepRM needs a VLMStepRMConfig")
        _check(config)  # before loading billions of parameters
        backbone = _load_vlm(base, allow_pickle, "base model")
        torch.manual_seed(seed)
        model = cls(backbone, load_vl_processor(base), config)
        head: Any = model.head
        nn.init.normal_(head.weight, std=1e-3)  # every step starts at P = 0.5
        nn.init.zeros_(head.bias)
        if config.freeze_backbone:
            model.backbone.requires_grad_(False)
        model.base_dir = Path(base) if Path(base).is_dir() else None
        return model

    @classmethod
    def load(cls, directory: str | Path, *, device: str | torch.device | None = None,
             allow_pickle: bool = False) -> VLMStepRM:
        d = Path(directory)
        config = VLMStepRMConfig.load(d)
        if not (d / HEAD_NAME).is_file():
            raise ConfigError(f"{d} is not a StepRM checkpoint: no {HEAD_NAME}")
        model = cls(_load_vlm(d, allow_pickle, "StepRM checkpoint"), load_vl_processor(d), config)
        model.base_dir = d
        return model._ready(d, device)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        _quiet(lambda: self.backbone.save_pretrained(str(d), safe_serialization=True))
        src = self.base_dir
        if src is not None and src.resolve() != d.resolve():
            for name in _PROCESSOR_FILES:
                if (src / name).is_file():
                    shutil.copyfile(src / name, d / name)
        elif src is None:
            self.processor.save_pretrained(str(d))
        self._save_head(d)
        self.config.save(d)
        return d

    # ---- rendering ----------------------------------------------------------------------

    def render(self, task: Any, steps: Any) -> Rendered:
        return self.render_many([(task, steps)])[0]

    def render_many(self, items: Any) -> list[Rendered]:
        """Each ``(task, steps)`` as the model's chat (see the module doc), tokenized by its processor."""
        return [self._render_one(task, steps) for task, steps in items]

    def _render_one(self, task: str | list[dict[str, Any]], steps: Sequence[Step]) -> VLMRendered:
        messages, closes, refs = chat_messages(task, steps, observation_text=self.config.observation_text)
        template = self.processor.apply_chat_template
        text = template(messages, tokenize=False)
        sep = self.config.separator
        # The c-th separator of the text is the c-th separator token: count them in each step's prefix.
        counts = []
        for m in closes:
            prefix = template(messages[: m + 1], tokenize=False).rstrip()
            if not text.startswith(prefix) or not prefix.endswith(sep):
                raise ConfigError(f"the chat template does not end each turn with {sep!r} "
                                  "(or a conversation's text is not a prefix of its continuation)")
            counts.append(prefix.count(sep))
        images = [self._image(r, i) for i, r in enumerate(refs)]
        enc = self.processor(text=[text], images=images or None, return_tensors="pt")
        ids = [int(x) for x in enc["input_ids"][0]]
        where = [i for i, x in enumerate(ids) if x == self.separator_id]
        if len(where) != text.count(sep):
            raise DataError(f"{len(where)} {sep!r} tokens for {text.count(sep)} in the text: a step text that "
                            "the tokenizer merges with the separator cannot be scored")
        mm = enc.get("mm_token_type_ids")
        return VLMRendered(ids, [where[c - 1] for c in counts], 0, list(refs),
                              None if mm is None else [int(x) for x in mm[0]])

    def _image(self, ref: MediaRef, i: int) -> Any:
        from PIL import Image

        raw = self.media.read(ref, f"image {i} ")
        return Image.open(io.BytesIO(raw)).convert("RGB")

    # ---- compute ----------------------------------------------------------------------

    def step_features(self, batch: list[Rendered]) -> list[torch.Tensor]:
        """One forward pass of the VLM over a batch; the hidden state at each step's separator."""
        ids, mask = collate(batch, self.tokenizer.pad_token_id)
        ids, mask = ids.to(self.device), mask.to(self.device)
        inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        rendered = [r for r in batch if isinstance(r, VLMRendered)]
        images = [self._image(ref, i) for r in rendered for i, ref in enumerate(r.images or [])]
        if images:
            pix = self.processor.image_processor(images=images, return_tensors="pt")
            inputs["pixel_values"] = pix["pixel_values"].to(self.device)
            inputs["image_grid_thw"] = pix["image_grid_thw"].to(self.device)
        if any(r.mm_token_type_ids is not None for r in rendered):
            mm = torch.zeros_like(ids)
            for i, r in enumerate(batch):
                if isinstance(r, VLMRendered) and r.mm_token_type_ids is not None:
                    mm[i, : len(r.mm_token_type_ids)] = torch.tensor(r.mm_token_type_ids, dtype=torch.long)
            inputs["mm_token_type_ids"] = mm
        # The language model's hidden states: the VLM without its LM head.
        hidden = self.backbone.base_model(**inputs).last_hidden_state
        rows = torch.arange(len(batch), device=hidden.device)
        width = max(len(r.step_positions) for r in batch)
        pos = torch.zeros((len(batch), max(width, 1)), dtype=torch.long, device=hidden.device)
        for i, r in enumerate(batch):
            pos[i, : len(r.step_positions)] = torch.tensor(r.step_positions, dtype=torch.long)
        at_sep = hidden[rows[:, None], pos]
        return [at_sep[i, : len(r.step_positions)] for i, r in enumerate(batch)]


def _check(config: VLMStepRMConfig) -> None:
    if config.head != "linear":
        raise ConfigError(f"a vision-language StepRM has a linear head, not {config.head!r}")
    if config.template != DEFAULT_TEMPLATE:
        raise ConfigError("--template lays out a text StepRM's task; a vision-language model's chat "
                          "template lays out the conversation")


def chat_messages(
    task: str | list[dict[str, Any]], steps: Sequence[Step], *, observation_text: bool = True
) -> tuple[list[dict[str, Any]], list[int], list[MediaRef]]:
    """The chat of a trajectory (see the module doc): ``(messages, the index of the message whose
    end-of-turn closes each step, the screenshots in the order their image parts appear)``."""
    messages: list[dict[str, Any]] = []
    if isinstance(task, str):
        user: dict[str, Any] = {"role": "user", "content": [{"type": "text", "text": task}]}
        messages.append(user)
    else:
        for m in task:
            messages.append({"role": str(m.get("role") or "user"),
                             "content": [{"type": "text", "text": _text_of(m.get("content"))}]})
        if not messages or messages[-1]["role"] != "user":
            messages.append({"role": "user", "content": []})
        user = messages[-1]
    refs: list[MediaRef] = []

    def add(parts: list[dict[str, Any]], images: Sequence[MediaRef]) -> None:
        # once per turn: a step's result screen is usually the next step's "before" screen too;
        # the same screen in a later turn (back on the home page) is shown again
        seen: set[str] = set()
        for r in images:
            if r.sha256 not in seen:
                seen.add(r.sha256)
                refs.append(r)
                parts.append({"type": "image"})

    add(user["content"], [r for r in steps[0].images if r.role == "before"] if steps else [])
    closes: list[int] = []
    for j, s in enumerate(steps):
        act = f"{s.thought}\n{s.text}" if s.thought else s.text
        messages.append({"role": "assistant", "content": [{"type": "text", "text": act}]})
        parts: list[dict[str, Any]] = []
        if observation_text and s.observation:
            parts.append({"type": "text", "text": s.observation})
        # The screen after the action: its own result images, then the next step's "before" one.
        after = [r for r in s.images if r.role != "before"]
        if j + 1 < len(steps):
            after += [r for r in steps[j + 1].images if r.role == "before"]
        add(parts, after)
        if parts:
            messages.append({"role": "user", "content": parts})
        closes.append(len(messages) - 1)
    return messages, closes, refs


def _text_of(content: Any) -> str:
    """A task message's text: a string as is, the text parts of an OpenAI-style part list."""
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _load_vlm(path: str | Path, allow_pickle: bool, what: str) -> Any:
    from transformers import AutoModelForImageTextToText

    kw = load_kwargs(path, allow_pickle=allow_pickle, what=what)
    return _quiet(lambda: AutoModelForImageTextToText.from_pretrained(str(path), dtype=torch.float32, **kw))
