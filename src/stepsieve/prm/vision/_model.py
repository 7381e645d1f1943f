"""The vision StepRM: a small CNN over the screen, a task-conditioned CNN over the clicked
strip, the action and the task text, and a causal GRU over the steps; one logit per step.

Per step (inputs: :mod:`stepsieve.prm.vision._inputs`):

- screen encoder: a 3-layer CNN over the before and after screens (6 channels, 96x72),
  pooled to a 3x4 grid so *where* something changed survives (the cart count, a status line);
- band encoder: a CNN over the before screen's strip at the action's point, plus a marker
  channel drawn at the point's column; its last feature map is modulated by the task (FiLM,
  Perez et al. 2018: per-channel scale and shift from the task's words) before max-pooling,
  so the model can ask whether the clicked row shows what the task names;
- change: the mean absolute difference of the after and before screens, over the whole screen
  and over the rows at the action's point (a click that changes nothing is a no-op);
- text side: mean word and bigram embeddings of the task, of the typed text, the typed
  words' overlap with the task, the action type, its normalised point, the step position.

A causal GRU reads the steps in order (step ``j``'s score sees steps ``<= j`` only, as for a
text StepRM), so one pass scores every step of a trajectory. A checkpoint is a folder with
``stepsieve_vision_prm.json`` (:class:`VisionStepRMConfig`) and ``vision_prm.safetensors``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from stepsieve._errors import ConfigError
from stepsieve.prm.vision._inputs import ACTION_TYPES, StepInputs

__all__ = ["VISION_CONFIG_NAME", "VISION_WEIGHTS_NAME", "VisionStepRM", "VisionStepRMConfig"]

VISION_CONFIG_NAME = "stepsieve_vision_prm.json"
VISION_WEIGHTS_NAME = "vision_prm.safetensors"


@dataclass
class VisionStepRMConfig:
    """What a vision StepRM checkpoint was built and trained with (``stepsieve_vision_prm.json``)."""

    screen: tuple[int, int] = (96, 72)  # (width, height) the before/after screens are downscaled to
    band: tuple[int, int] = (320, 32)  # (width, height) of the strip at the action's point (full height res)
    buckets: int = 2048  # hashed word and bigram ids of the task and typed text
    text_dim: int = 32  # word embedding width
    channels: int = 8  # CNN width (2x in its deeper layers)
    hidden: int = 64  # per-step feature and GRU width
    blank_images: bool = False  # the ablation: every pixel zeroed, in training and scoring
    label: str = "mc"  # the label the targets came from (never "truth")
    targets: str = "verdict"  # how that label became per-step targets (vision._targets)
    threshold: float = 0.5  # P(correct) below which a step is incorrect (picked on the dev split)
    training: dict[str, Any] = field(default_factory=dict)  # resolved training options and summary

    def __post_init__(self) -> None:
        self.screen = (int(self.screen[0]), int(self.screen[1]))
        self.band = (int(self.band[0]), int(self.band[1]))
        if min(self.screen + self.band) < 8 or self.buckets < 2 or min(self.text_dim, self.channels, self.hidden) < 1:
            raise ConfigError("vision StepRM: screen and band sides >= 8, buckets >= 2, widths >= 1")

    def save(self, directory: Path) -> None:
        (directory / VISION_CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @staticmethod
    def load(directory: Path) -> VisionStepRMConfig:
        path = directory / VISION_CONFIG_NAME
        if not path.is_file():
            raise ConfigError(f"{directory} is not a vision StepRM checkpoint: no {VISION_CONFIG_NAME}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
        unknown = sorted(set(data) - {f.name for f in fields(VisionStepRMConfig)})
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}")
        return VisionStepRMConfig(**data)


def _cnn(c_in: int, c: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(pool),
        nn.Conv2d(2 * c, 2 * c, 3, padding=1),
    )


class VisionStepRM(nn.Module):
    """See the module docstring. ``forward(batch)`` -> one logit tensor per trajectory."""

    def __init__(self, config: VisionStepRMConfig) -> None:
        super().__init__()
        self.config = c = config
        self.words = nn.EmbeddingBag(c.buckets, c.text_dim, mode="mean")
        self.screen_cnn = _cnn(6, c.channels, (2, 2))
        self.screen_pool = nn.AdaptiveAvgPool2d((3, 4))
        self.screen_proj = nn.Linear(2 * c.channels * 12, c.hidden)
        self.band_cnn = _cnn(4, c.channels, (2, 2))
        self.film = nn.Linear(c.text_dim, 4 * c.channels)  # scale and shift of the band's 2c channels
        n_in = c.hidden + 4 * c.channels + 2 * c.text_dim + len(ACTION_TYPES) + 3 + 2 + 2
        self.step_mlp = nn.Sequential(nn.Linear(n_in, c.hidden), nn.GELU())
        self.gru = nn.GRU(c.hidden, c.hidden, batch_first=True)
        self.head = nn.Linear(2 * c.hidden, 1)

    # ---- io -------------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | Path, *, device: str | torch.device | None = None) -> VisionStepRM:
        d = Path(directory)
        config = VisionStepRMConfig.load(d)
        weights = d / VISION_WEIGHTS_NAME
        if not weights.is_file():
            raise ConfigError(f"{d} is not a vision StepRM checkpoint: no {VISION_WEIGHTS_NAME}")
        model = cls(config)
        model.load_state_dict(load_file(str(weights)))
        return model.eval().to(device or "cpu")

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(weights, str(d / VISION_WEIGHTS_NAME))
        self.config.save(d)
        return d

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    # ---- compute --------------------------------------------------------------------------

    def _pixels(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32) / 255.0
        return torch.zeros_like(x) if self.config.blank_images else x

    def step_features(self, batch: list[StepInputs]) -> torch.Tensor:
        """``[total_steps, hidden]``: every step of the batch, trajectories one after another."""
        c, dev = self.config, self.device
        screens = self._pixels(torch.cat([b.screens for b in batch]))
        bands = self._pixels(torch.cat([b.bands for b in batch]))
        coords = torch.cat([b.coords for b in batch]).to(dev)
        counts = [b.steps for b in batch]
        # the task's words, repeated for each of its steps
        task_ids = [b.task_ids for b in batch]
        offsets = torch.tensor([0] + [len(t) for t in task_ids[:-1]]).cumsum(0)
        task = self.words(torch.cat(task_ids).to(dev), offsets.to(dev))
        task = task.repeat_interleave(torch.tensor(counts, device=dev), dim=0)
        typed_lists = [ids for b in batch for ids in b.typed_ids]
        t_off = torch.tensor([0] + [len(t) for t in typed_lists[:-1]]).cumsum(0)
        typed = self.words(torch.tensor([i for ids in typed_lists for i in ids], device=dev), t_off.to(dev))
        # the screen: where things are and what changed
        s = self.screen_pool(F.relu(self.screen_cnn(screens))).flatten(1)
        s = F.relu(self.screen_proj(s))
        # the strip at the point, with a marker channel at the point's column
        cols = torch.linspace(0, 1, c.band[0], device=dev)
        marker = torch.exp(-((cols[None, :] - coords[:, :1]) ** 2) / (2 * 0.02**2)) * coords[:, 2:3]
        marker = marker[:, None, None, :].expand(-1, 1, c.band[1], -1)
        fmap = self.band_cnn(torch.cat([bands, marker], dim=1))
        scale, shift = self.film(task).chunk(2, dim=-1)
        fmap = F.relu(fmap * (1 + scale[:, :, None, None]) + shift[:, :, None, None])
        band = torch.cat([fmap.amax(dim=(2, 3)), fmap.mean(dim=(2, 3))], dim=-1)
        onehot = F.one_hot(torch.cat([b.action_type for b in batch]).to(dev), len(ACTION_TYPES)).float()
        match = torch.cat([b.typed_match for b in batch]).to(dev)[:, None]
        pos = torch.cat([torch.arange(n, dtype=torch.float32) for n in counts]).to(dev)[:, None] / 8.0
        # how much the action changed the screen: everywhere, and in the rows of its point
        change = (screens[:, 3:] - screens[:, :3]).abs().mean(dim=1)  # [n, H, W]
        rows = torch.linspace(0, 1, change.shape[1], device=dev)
        near = ((rows[None, :] - coords[:, 1:2]).abs() < c.band[1] / 480).float() * coords[:, 2:3]  # [n, H]
        local = (change.mean(dim=2) * near).sum(1) / near.sum(1).clamp(min=1.0)
        diff = torch.stack([change.mean(dim=(1, 2)), local], dim=-1) * 10.0
        x = torch.cat([s, band, task, typed, onehot, coords, match, pos, diff], dim=-1)
        return self.step_mlp(x)

    def forward(self, batch: list[StepInputs]) -> list[torch.Tensor]:
        """One logit per step of each trajectory (P(step correct) = sigmoid(logit))."""
        counts = [b.steps for b in batch]
        feats = torch.split(self.step_features(batch), counts)
        padded = nn.utils.rnn.pad_sequence(list(feats), batch_first=True)
        packed = nn.utils.rnn.pack_padded_sequence(padded, torch.tensor(counts), batch_first=True,
                                                   enforce_sorted=False)
        out, _ = self.gru(packed)
        seq, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=padded.shape[1])
        logits = self.head(torch.cat([seq, padded], dim=-1)).squeeze(-1)
        return [logits[i, :n] for i, n in enumerate(counts)]

    def flops_per_step(self) -> int:
        """Multiply-adds x 2 of one step's forward pass (convolutions, linears, GRU), for cost reports."""
        c = self.config
        total = 0
        for cnn, (w, h) in ((self.screen_cnn, c.screen), (self.band_cnn, c.band)):
            hh, ww = h, w
            for m in cnn:
                if isinstance(m, nn.Conv2d):
                    total += 2 * hh * ww * m.in_channels * m.out_channels * 9
                elif isinstance(m, nn.MaxPool2d):
                    k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
                    hh, ww = hh // k[0], ww // k[1]
        for m in self.modules():
            if isinstance(m, nn.Linear):
                total += 2 * m.in_features * m.out_features
        total += 2 * 3 * 2 * c.hidden * c.hidden  # GRU: 3 gates, input and hidden products
        return total
