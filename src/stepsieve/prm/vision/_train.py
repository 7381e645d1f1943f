"""Train a vision StepRM: an explicit loop, BCE per step on targets from ``mc`` labels.

Decoded inputs are built once (``prepare``) and kept as uint8 tensors, so every epoch is
pure compute; the threshold is picked on a dev split against the training targets' own
first errors (``choose_threshold``), never against truth.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stepsieve._errors import ConfigError, DataError
from stepsieve.media import MediaResolver
from stepsieve.prm._threshold import choose_threshold, first_error_at, processbench_f1
from stepsieve.prm.vision._inputs import ImageCache, StepInputs, trajectory_inputs
from stepsieve.prm.vision._model import VisionStepRM, VisionStepRMConfig
from stepsieve.prm.vision._targets import step_targets_from_mc
from stepsieve.trajectory import Trajectory

__all__ = ["VisionExample", "VisionTrainOptions", "prepare", "train_vision_prm", "train_vision_steps"]


@dataclass(frozen=True)
class VisionTrainOptions:
    """Training knobs; saved in the checkpoint's config (``training.options``)."""

    epochs: int = 12
    batch_size: int = 16  # trajectories per optimiser step
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 20  # linear warm-up steps, then cosine decay to 10%
    dev_fraction: float = 0.15  # held out to pick the threshold (against the targets, not truth)
    error_weight: float = 1.0  # loss weight of an incorrect target (by 1 - y)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.error_weight <= 0:
            raise ConfigError("vision StepRM: epochs, batch_size >= 1; lr, error_weight > 0")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")


@dataclass
class VisionExample:
    inputs: StepInputs
    targets: list[float | None]


def prepare(
    trajectories: Iterable[Trajectory], config: VisionStepRMConfig, resolver: MediaResolver, *,
    progress: bool = False,
) -> tuple[list[VisionExample], int]:
    """Decode every trajectory that has a target; returns (examples, skipped without one)."""
    cache = ImageCache(config.screen)
    examples: list[VisionExample] = []
    skipped = 0
    items = list(trajectories)
    with _progress(progress) as bar:
        task = bar.add_task("decode screenshots", total=len(items))
        for t in items:
            targets = step_targets_from_mc(t, config.label, config.targets)
            if all(y is None for y in targets):
                skipped += 1
            else:
                examples.append(VisionExample(trajectory_inputs(t, resolver, cache, buckets=config.buckets,
                                                                band=config.band), targets))
            bar.update(task, advance=1)
    return examples, skipped


def _loss(model: VisionStepRM, batch: Sequence[VisionExample], error_weight: float) -> torch.Tensor:
    logits = model([e.inputs for e in batch])
    preds, ys = [], []
    for ex, lg in zip(batch, logits):
        for j, y in enumerate(ex.targets):
            if y is not None:
                preds.append(lg[j])
                ys.append(y)
    target = torch.tensor(ys, dtype=torch.float32, device=model.device)
    weight = None if error_weight == 1.0 else 1.0 + (error_weight - 1.0) * (1.0 - target)
    return F.binary_cross_entropy_with_logits(torch.stack(preds), target, weight=weight)


def train_vision_steps(
    model: VisionStepRM, examples: Sequence[VisionExample], options: VisionTrainOptions, *, progress: bool = False
) -> list[float]:
    """The training loop proper; returns the loss of every optimiser step."""
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    per_epoch = math.ceil(len(examples) / options.batch_size)
    total = per_epoch * options.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=options.weight_decay)

    def lr_at(step: int) -> float:
        if step < options.warmup:
            return (step + 1) / options.warmup
        frac = (step - options.warmup) / max(1, total - options.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    model.train()
    with _progress(progress) as bar:
        task = bar.add_task("train vision StepRM", total=total)
        for _ in range(options.epochs):
            order = list(range(len(examples)))
            rng.shuffle(order)
            for s in range(0, len(order), options.batch_size):
                loss = _loss(model, [examples[i] for i in order[s : s + options.batch_size]], options.error_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                bar.update(task, advance=1, description=f"train vision StepRM loss {losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def _dev_eval(model: VisionStepRM, dev: Sequence[VisionExample], options: VisionTrainOptions) -> dict[str, Any]:
    if not dev:
        return {"dev_loss": None, "threshold": 0.5, "dev_f1_vs_label": None}
    losses, scores, refs = [], [], []
    for s in range(0, len(dev), options.batch_size):
        batch = dev[s : s + options.batch_size]
        losses.append(float(_loss(model, batch, options.error_weight)) * len(batch))
        for ex, lg in zip(batch, model([e.inputs for e in batch])):
            scores.append(torch.sigmoid(lg).cpu().tolist())
            refs.append(first_error_at([1.0 if y is None else y for y in ex.targets], 0.5))
    thr, f1 = choose_threshold(scores, refs)
    return {"dev_loss": sum(losses) / len(dev), "threshold": thr, "dev_f1_vs_label": f1,
            "dev_f1_vs_label_at_0.5": processbench_f1([first_error_at(s, 0.5) for s in scores], refs)}


def train_vision_prm(
    trajectories: Iterable[Trajectory],
    *,
    out: str | Path | None,
    source: str | Path | None,
    label: str = "mc",
    targets: str = "verdict",
    config: VisionStepRMConfig | None = None,
    options: VisionTrainOptions | None = None,
    device: str | None = None,
    progress: bool = False,
    examples: list[VisionExample] | None = None,
) -> VisionStepRM:
    """Train a vision StepRM on ``label`` (images resolved against ``source``'s folder) and
    save it to ``out`` (None: not saved). ``examples`` reuses decoded inputs (the blanked
    ablation trains on the same ones)."""
    if label == "truth":
        raise ConfigError("the vision StepRM learns from a grader's labels (e.g. mc), never from truth")
    options = options or VisionTrainOptions()
    t0 = time.perf_counter()
    config = config or VisionStepRMConfig()
    config.label, config.targets = label, targets
    skipped = 0
    if examples is None:
        examples, skipped = prepare(trajectories, config, MediaResolver(source), progress=progress)
    if not examples:
        raise DataError(f"no trajectory carries label {label!r} with a usable target on any step",
                        path=None if source is None else str(source))
    decoded = time.perf_counter() - t0
    examples = list(examples)
    random.Random(options.seed).shuffle(examples)
    n_dev = int(len(examples) * options.dev_fraction) if len(examples) >= 20 else 0
    dev, train = examples[:n_dev], examples[n_dev:]
    torch.manual_seed(options.seed)
    model = VisionStepRM(config).to(device or "cpu")
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)  # every step starts at P = 0.5
    losses = train_vision_steps(model, train, options, progress=progress)
    report = _dev_eval(model, dev, options)
    config.threshold = float(report["threshold"])
    stride = max(1, len(losses) // 50)
    config.training = {
        "options": asdict(options),
        "source": None if source is None else str(source),
        "examples": len(train), "dev_examples": len(dev), "skipped": skipped,
        "labelled_steps": sum(sum(y is not None for y in e.targets) for e in train),
        "first_loss": losses[0],
        "final_loss": sum(losses[-stride:]) / len(losses[-stride:]),
        "loss_curve": [[i, round(sum(losses[i : i + stride]) / len(losses[i : i + stride]), 5)]
                       for i in range(0, len(losses), stride)],
        "decode_seconds": round(decoded, 2),
        "seconds": round(time.perf_counter() - t0, 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        **report,
    }
    if out is not None:
        model.save(out)
    return model


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=not enabled, transient=False)
