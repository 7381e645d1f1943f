"""Train a StepRM: an explicit loop, BCE at each step separator on hard or soft targets.

Soft targets (e.g. the fraction of Monte Carlo rollouts that reach the right answer) stay
floats from the label to the loss: ``BCEWithLogits`` takes probabilities as targets, so a
step with value 0.25 pulls its logit towards P = 0.25, not towards 0 (casting soft labels
to int, as some trainers do, throws that information away).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stepsieve._errors import ConfigError, DataError
from stepsieve.media import MediaResolver
from stepsieve.prm._model import StepRM, StepRMConfig, default_device
from stepsieve.prm._render import DEFAULT_TEMPLATE, Rendered
from stepsieve.prm._threshold import choose_threshold, first_error_at, processbench_f1
from stepsieve.prm._vlm import VLM_SEPARATOR, VLMStepRM, VLMStepRMConfig, is_vlm
from stepsieve.trajectory import (
    DEFAULT_AFTER_ERROR,
    AfterError,
    Trajectory,
    after_error_verdicts,
    check_after_error,
)

__all__ = ["Example", "TrainOptions", "cache_features", "make_examples", "step_targets", "train_prm", "train_steps"]


@dataclass(frozen=True)
class TrainOptions:
    """Training knobs; saved in the checkpoint's ``stepsieve_prm.json``."""

    epochs: int = 3
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 20  # linear warm-up steps, then cosine decay to 10%
    dev_fraction: float = 0.1  # held out (from the same label) to pick the threshold and report dev loss
    after_error: AfterError = DEFAULT_AFTER_ERROR  # undecided steps after the first error (trajectory._after_error)
    seed: int = 0
    bf16: bool = False  # autocast to bfloat16 on CUDA (ignored on CPU)
    error_weight: float = 1.0  # loss weight of an incorrect target (1 - y of it for soft ones): errors are rare
    # Second stage (with freeze_backbone): after the head has trained on the frozen base, train
    # backbone and head together this many epochs at finetune_lr. The head stage first keeps the
    # randomly initialised head from pushing noise into the backbone; the joint stage then lets the
    # base re-weigh its own token log-probs (the policy's confident arithmetic errors).
    finetune_epochs: int = 0
    finetune_lr: float = 3e-4

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError("epochs and batch_size must be >= 1 and lr > 0")
        if self.finetune_epochs < 0 or self.finetune_lr <= 0:
            raise ConfigError("finetune_epochs must be >= 0 and finetune_lr > 0")
        if self.error_weight <= 0:
            raise ConfigError(f"error_weight must be > 0, got {self.error_weight}")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")
        check_after_error(self.after_error)


@dataclass(slots=True)
class Example:
    """A rendered trajectory with one float target per step (None: not trained on)."""

    trajectory: Trajectory
    rendered: Rendered
    targets: list[float | None]


def step_targets(
    trajectory: Trajectory, label: str, *, soft: bool, after_error: str = DEFAULT_AFTER_ERROR
) -> list[float | None]:
    """Per-step training targets from one label.

    Hard: correct -> 1.0, incorrect -> 0.0, neutral / undecided -> None. Soft: the label's
    score (a probability) where present, else the hard value. After the first incorrect
    step, steps the grader left undecided count as incorrect (a prefix containing an error
    is wrong) unless ``after_error="skip"``.
    """
    steps = trajectory.steps
    labs = [s.labels.get(label) for s in steps]
    verdicts = after_error_verdicts([None if lab is None else lab.verdict for lab in labs], after_error)
    out: list[float | None] = []
    for lab, v in zip(labs, verdicts):
        target: float | None = None
        if lab is not None and soft and lab.score is not None:
            if (lab.extra or {}).get("kind") == "advantage":
                raise DataError(f"label {label!r} holds advantages, not probabilities", trajectory=trajectory.id)
            target = min(1.0, max(0.0, float(lab.score)))
        elif v == "correct":
            target = 1.0
        elif v == "incorrect":
            target = 0.0
        out.append(target)
    return out


def make_examples(
    model: StepRM, trajectories: Iterable[Trajectory], label: str, *, soft: bool, after_error: str
) -> tuple[list[Example], int]:
    """Render every trajectory that has at least one target; returns (examples, skipped)."""
    examples: list[Example] = []
    skipped = 0
    trajectories = list(trajectories)
    rendered = model.render_many([(t.task, t.steps) for t in trajectories])
    for t, r in zip(trajectories, rendered):
        targets = step_targets(t, label, soft=soft, after_error=after_error)
        if all(x is None for x in targets) or (model.max_length and len(r.input_ids) > model.max_length):
            skipped += 1
            continue
        examples.append(Example(t, r, targets))
    return examples, skipped


def _batch_loss(model: StepRM, batch: Sequence[Example], bf16: bool, error_weight: float = 1.0,
                logits: list[torch.Tensor] | None = None) -> torch.Tensor:
    """Mean BCE over the labelled steps of a batch (float targets, never rounded).

    ``logits`` (from cached features) skips the forward pass; ``error_weight`` scales the
    loss of incorrect targets (by 1 - y, so a soft target is weighted by how wrong it is).
    """
    if logits is None:
        use_bf16 = bf16 and model.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model.step_logits([e.rendered for e in batch])
    preds, targets = [], []
    for ex, lg in zip(batch, logits):
        for j, y in enumerate(ex.targets):
            if y is not None:
                preds.append(lg[j].float())
                targets.append(y)
    target = torch.tensor(targets, dtype=torch.float32, device=model.device)
    weight = None if error_weight == 1.0 else 1.0 + (error_weight - 1.0) * (1.0 - target)
    return F.binary_cross_entropy_with_logits(torch.stack(preds), target, weight=weight)


@torch.no_grad()
def cache_features(model: StepRM, examples: Sequence[Example], batch_size: int) -> list[torch.Tensor]:
    """The head's inputs for every example, from one no-grad pass each (frozen backbone only)."""
    model.eval()
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].rendered.input_ids))
    feats: dict[int, torch.Tensor] = {}
    for s in range(0, len(order), 4 * batch_size):
        idx = order[s : s + 4 * batch_size]
        for i, f in zip(idx, model.step_features([examples[i].rendered for i in idx])):
            feats[i] = f
    return [feats[i] for i in range(len(examples))]


def train_steps(
    model: StepRM, examples: Sequence[Example], options: TrainOptions, *, progress: bool = False,
    features: Sequence[torch.Tensor] | None = None,
) -> list[float]:
    """The training loop proper; returns the loss of every optimiser step.

    With a frozen backbone the head's inputs are computed once (or taken from ``features``,
    e.g. to compare head settings on one cache: :func:`cache_features`).
    """
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    steps_per_epoch = math.ceil(len(examples) / options.batch_size)
    total = steps_per_epoch * options.epochs
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=options.lr, weight_decay=options.weight_decay)

    def lr_at(step: int) -> float:
        if step < options.warmup:
            return (step + 1) / options.warmup
        frac = (step - options.warmup) / max(1, total - options.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    # A frozen backbone gives the same head inputs every epoch: compute them once.
    cached = None
    if model.config.freeze_backbone:
        cached = list(features) if features is not None else cache_features(model, examples, options.batch_size)
    model.train()
    bar = _progress(progress)
    with bar:
        task = bar.add_task("train StepRM", total=total)
        for _ in range(options.epochs):
            order = list(range(len(examples)))
            rng.shuffle(order)
            for s in range(0, len(order), options.batch_size):
                chunk = order[s : s + options.batch_size]
                batch = [examples[i] for i in chunk]
                logits = model.head_logits([cached[i] for i in chunk]) if cached is not None else None
                loss = _batch_loss(model, batch, options.bf16, options.error_weight, logits)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                bar.update(task, advance=1, description=f"train StepRM loss {losses[-1]:.3f}")
    model.eval()
    return losses


@torch.no_grad()
def _dev_eval(model: StepRM, dev: Sequence[Example], options: TrainOptions) -> dict[str, Any]:
    """Dev loss, and the threshold with the best first-error F1 against the training label."""
    if not dev:
        return {"dev_loss": None, "threshold": 0.5, "dev_f1_vs_label": None}
    losses, scores, refs = [], [], []
    for s in range(0, len(dev), options.batch_size):
        batch = dev[s : s + options.batch_size]
        losses.append(float(_batch_loss(model, batch, options.bf16, options.error_weight)) * len(batch))
        for ex, lg in zip(batch, model.step_logits([e.rendered for e in batch])):
            scores.append(torch.sigmoid(lg.float()).cpu().tolist())
            refs.append(first_error_at([1.0 if y is None else y for y in ex.targets], 0.5))
    thr, f1 = choose_threshold(scores, refs)
    return {
        "dev_loss": sum(losses) / len(dev),
        "threshold": thr,
        "dev_f1_vs_label": f1,
        "dev_f1_vs_label_at_0.5": processbench_f1([first_error_at(s, 0.5) for s in scores], refs),
    }


def train_prm(
    trajectories: Iterable[Trajectory],
    *,
    base: str | Path,
    out: str | Path,
    label: str,
    soft: bool = False,
    separator: str | None = None,
    template: str = DEFAULT_TEMPLATE,
    head: str = "linear",
    head_width: int = 64,
    freeze_backbone: bool = False,
    options: TrainOptions | None = None,
    device: str | None = None,
    progress: bool = False,
    source: str = "<trajectories>",
    allow_pickle: bool = False,
    media: MediaResolver | None = None,
) -> StepRM:
    """Fine-tune a StepRM from ``base`` on ``label`` and save it to ``out``. ``base`` must
    hold safetensors unless ``allow_pickle`` (pickled weights run code when loaded).

    A vision-language ``base`` (its config has a vision part) trains a :class:`VLMStepRM`
    that sees the steps' screenshots, read by ``media`` (``MediaResolver(record_file)``);
    ``separator`` defaults to ``"\\n"``, for a VLM to its chat template's end of turn."""
    options = options or TrainOptions()
    if options.finetune_epochs and not freeze_backbone:  # before any work is spent
        raise ConfigError("finetune_epochs is the joint stage after a head-only stage: pass freeze_backbone=True")
    t0 = time.perf_counter()
    vlm = is_vlm(base)
    config = (VLMStepRMConfig if vlm else StepRMConfig)(
        separator=separator or (VLM_SEPARATOR if vlm else "\n"), label=label, base=str(base), soft=soft,
        template=template, head=head, head_width=head_width, freeze_backbone=freeze_backbone)
    model = (VLMStepRM if vlm else StepRM).from_base(base, config, seed=options.seed, allow_pickle=allow_pickle)
    if isinstance(model, VLMStepRM) and media is not None:
        model.media = media
    model = model.to(device or default_device())
    examples, skipped = make_examples(model, trajectories, label, soft=soft, after_error=options.after_error)
    if not examples:
        raise DataError(f"no trajectory carries label {label!r} on any step", path=source)
    rng = random.Random(options.seed)
    rng.shuffle(examples)
    n_dev = int(len(examples) * options.dev_fraction) if len(examples) >= 20 else 0
    dev, train = examples[:n_dev], examples[n_dev:]
    losses = train_steps(model, train, options, progress=progress)
    head_steps = len(losses)
    if options.finetune_epochs:
        model.backbone.requires_grad_(True)
        config.freeze_backbone = False  # the saved backbone is no longer the base
        losses += train_steps(model, train, replace(options, epochs=options.finetune_epochs, lr=options.finetune_lr),
                              progress=progress)
    dev_report = _dev_eval(model, dev, options)
    config.threshold = float(dev_report["threshold"])
    stride = max(1, len(losses) // 50)
    config.training = {
        "options": asdict(options),
        "source": source,
        "examples": len(train),
        "dev_examples": len(dev),
        "skipped": skipped,
        "labelled_steps": sum(sum(y is not None for y in e.targets) for e in train),
        "head_stage_steps": head_steps,  # optimiser steps before the joint stage (all of them without one)
        "first_loss": losses[0],
        "final_loss": sum(losses[-stride:]) / len(losses[-stride:]),
        "loss_curve": [[i, round(sum(losses[i : i + stride]) / len(losses[i : i + stride]), 5)]
                       for i in range(0, len(losses), stride)],
        "seconds": round(time.perf_counter() - t0, 2),
        "device": str(model.device),
        **dev_report,
    }
    model.save(out)
    return model


def _progress(enabled: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        disable=not enabled, transient=False,
    )
