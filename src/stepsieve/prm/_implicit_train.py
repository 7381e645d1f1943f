"""Train an implicit PRM on outcome labels only (``train-prm --objective implicit``).

The target is ``trajectory.outcome.correct`` (the answer checker's verdict); no step label is
ever read. Objectives, with ``r(y) = β · Σ_{response tokens} log π_θ/π_ref``:

* ``ce`` (the paper's): binary cross-entropy of ``sigmoid(r(y))`` against the outcome;
* ``dpo``: pairs of one task, a right and a wrong solution: ``-log sigmoid(r(y_w) - r(y_l))``.

The reference is frozen, so its log-probabilities are computed once per example (one no-grad
pass) and only the policy is run in the loop. The verdict threshold is picked on a dev split
(whole tasks held out) against the outcome: a trajectory counts as flagged when any step
scores below the threshold, and the threshold with the best harmonic mean of accuracy on
wrong-answer and right-answer trajectories wins (:func:`stepsieve.prm.choose_threshold`).
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from stepsieve._errors import ConfigError, DataError
from stepsieve.prm._implicit import ImplicitConfig, ImplicitPRM, reference_name, response_mask, token_logprobs
from stepsieve.prm._render import Rendered
from stepsieve.prm._threshold import choose_threshold, first_error_at
from stepsieve.prm._train import _progress
from stepsieve.trajectory import Trajectory

__all__ = ["ImplicitTrainOptions", "outcome_target", "train_implicit_prm"]


@dataclass(frozen=True)
class ImplicitTrainOptions:
    """Training knobs; saved in the checkpoint's ``stepsieve_implicit.json``."""

    objective: str = "ce"  # ce (cross-entropy on the outcome) or dpo (right vs wrong solution of one task)
    beta: float = 0.05  # the reward scale in r = beta * log(pi_theta / pi_ref)
    epochs: int = 2
    batch_size: int = 16  # trajectories (ce) or pairs (dpo) per optimiser step
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup: int = 10  # linear warm-up steps, then cosine decay to 10%
    dev_fraction: float = 0.1  # tasks held out to pick the threshold
    pairs_per_task: int = 4  # dpo: at most this many (right, wrong) pairs of one task
    score: str = "cumulative"  # what the verdicts threshold: cumulative (sigmoid q_j) or step (sigmoid r_j)
    seed: int = 0
    bf16: bool = False  # autocast to bfloat16 on CUDA (ignored on CPU)

    def __post_init__(self) -> None:
        if self.objective not in ("ce", "dpo"):
            raise ConfigError(f"implicit objective must be ce or dpo, got {self.objective!r}")
        if (
            self.beta <= 0
            or self.lr <= 0
            or self.epochs < 1
            or self.batch_size < 1
            or self.pairs_per_task < 1
        ):
            raise ConfigError("beta and lr must be > 0; epochs, batch_size and pairs_per_task >= 1")
        if not 0.0 <= self.dev_fraction < 1.0:
            raise ConfigError(f"dev_fraction must be in [0, 1), got {self.dev_fraction}")
        if self.score not in ("cumulative", "step"):
            raise ConfigError(f"score must be cumulative or step, got {self.score!r}")


def outcome_target(t: Trajectory) -> float | None:
    """1.0 / 0.0 from ``outcome.correct``; None when the outcome is unknown (not trained on)."""
    if t.outcome is None or t.outcome.correct is None:
        return None
    return 1.0 if t.outcome.correct else 0.0


def _task_key(t: Trajectory) -> str:
    task = (t.meta or {}).get("task")
    if isinstance(task, dict) and task.get("id") is not None:
        return str(task["id"])
    return str(t.task)


@dataclass(slots=True)
class _Example:
    rendered: Rendered
    target: float
    task: str
    ref_sum: float = 0.0  # sum of log pi_ref over the response tokens (the reference is frozen)


def _sums(model: ImplicitPRM, lm: torch.nn.Module, batch: Sequence[_Example]) -> torch.Tensor:
    """Σ over each example's response tokens of log ``lm`` (one pass, batched)."""
    items = [e.rendered for e in batch]
    ids, mask = model._collate(items)
    lp = token_logprobs(lm, ids, mask)
    return (lp * response_mask(items, ids.shape[1]).to(lp.device)).sum(-1)


@torch.no_grad()
def _cache_reference(model: ImplicitPRM, examples: Sequence[_Example], batch_size: int) -> None:
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].rendered.input_ids))
    for s in range(0, len(order), 4 * batch_size):
        idx = order[s : s + 4 * batch_size]
        for i, v in zip(
            idx, _sums(model, model.reference, [examples[i] for i in idx]).cpu().tolist(), strict=True
        ):
            examples[i].ref_sum = v


def _rewards(model: ImplicitPRM, batch: Sequence[_Example], bf16: bool) -> torch.Tensor:
    use_bf16 = bf16 and model.device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
        theta = _sums(model, model.policy, batch)
    ref = torch.tensor([e.ref_sum for e in batch], device=theta.device)
    return model.config.beta * (theta.float() - ref)


def _pairs(examples: Sequence[_Example], per_task: int, rng: random.Random) -> list[tuple[int, int]]:
    by_task: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for i, e in enumerate(examples):
        by_task[e.task][0 if e.target >= 0.5 else 1].append(i)
    out = []
    for right, wrong in by_task.values():
        combos = [(w, lo) for w in right for lo in wrong]
        rng.shuffle(combos)
        out.extend(combos[:per_task])
    return out


def _train_loop(
    model: ImplicitPRM, train: list[_Example], o: ImplicitTrainOptions, progress: bool
) -> list[float]:
    rng = random.Random(o.seed)
    torch.manual_seed(o.seed)
    units: list[Any] = (
        list(range(len(train))) if o.objective == "ce" else _pairs(train, o.pairs_per_task, rng)
    )
    if not units:
        raise DataError("dpo needs tasks with both a right and a wrong solution; none in the train split")
    total = math.ceil(len(units) / o.batch_size) * o.epochs
    opt = torch.optim.AdamW(model.policy.parameters(), lr=o.lr, weight_decay=o.weight_decay)

    def lr_at(step: int) -> float:
        if step < o.warmup:
            return (step + 1) / o.warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - o.warmup) / max(1, total - o.warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    losses: list[float] = []
    model.policy.train()
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"train implicit PRM ({o.objective})", total=total)
        for _ in range(o.epochs):
            rng.shuffle(units)
            for s in range(0, len(units), o.batch_size):
                chunk = units[s : s + o.batch_size]
                if o.objective == "ce":
                    batch = [train[i] for i in chunk]
                    y = torch.tensor([e.target for e in batch], device=model.device)
                    loss = F.binary_cross_entropy_with_logits(_rewards(model, batch, o.bf16), y)
                else:
                    batch = [train[w] for w, _ in chunk] + [train[lo] for _, lo in chunk]
                    r = _rewards(model, batch, o.bf16)
                    loss = -F.logsigmoid(r[: len(chunk)] - r[len(chunk) :]).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.policy.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                bar.update(task, advance=1, description=f"train implicit PRM loss {losses[-1]:.3f}")
    model.policy.eval()
    return losses


@torch.no_grad()
def _dev_eval(model: ImplicitPRM, dev: Sequence[_Example], o: ImplicitTrainOptions) -> dict[str, Any]:
    """Threshold (best outcome F1 of "any step flagged" on dev), dev CE loss and outcome accuracy."""
    if not dev:
        return {"threshold": 0.5, "dev_f1_vs_outcome": None, "dev_loss": None, "dev_outcome_accuracy": None}
    scores, refs, finals, ys = [], [], [], []
    for s in range(0, len(dev), o.batch_size):
        batch = list(dev[s : s + o.batch_size])
        for e, rw in zip(batch, model.step_rewards([e.rendered for e in batch]), strict=True):
            scores.append(model.scores_from_rewards(rw, o.score).cpu().tolist())
            refs.append(-1 if e.target >= 0.5 else 0)
            finals.append(float(rw.sum()))
            ys.append(e.target)
    # "Flagged at step 0" stands for "flagged anywhere": the outcome does not say where.
    flat = [[min(sc)] if sc else [1.0] for sc in scores]
    thr, f1 = choose_threshold(flat, refs)
    final = torch.tensor(finals)
    y = torch.tensor(ys)
    return {
        "threshold": thr,
        "dev_f1_vs_outcome": f1,
        "dev_flagged_at_threshold": sum(first_error_at(sc, thr) >= 0 for sc in scores) / len(scores),
        "dev_loss": float(F.binary_cross_entropy_with_logits(final, y)),
        "dev_outcome_accuracy": float(((final > 0).float() == y).float().mean()),
    }


def train_implicit_prm(
    trajectories: Iterable[Trajectory],
    *,
    base: str | Path,
    out: str | Path,
    options: ImplicitTrainOptions | None = None,
    separator: str = "\n",
    template: str = "Problem: {task}\nSolution:\n",
    device: str | None = None,
    progress: bool = False,
    source: str = "<trajectories>",
    allow_pickle: bool = False,
) -> ImplicitPRM:
    """Train ``π_θ`` (a copy of ``base``) against ``base`` frozen, on outcomes; save it to ``out``."""
    o = options or ImplicitTrainOptions()
    t0 = time.perf_counter()
    config = ImplicitConfig(
        reference=reference_name(base),
        beta=o.beta,
        objective=o.objective,
        score=o.score,
        separator=separator,
        template=template,
    )
    model = ImplicitPRM.from_base(base, config, allow_pickle=allow_pickle)
    if device:
        model = model.to(device)
    trajs = [t for t in trajectories if t.steps]
    targets = [outcome_target(t) for t in trajs]
    rendered = model.render_many([(t.task, t.steps) for t in trajs])
    examples, skipped = [], 0
    for t, y, r in zip(trajs, targets, rendered, strict=True):
        if y is None or (model.max_length and len(r.input_ids) > model.max_length):
            skipped += 1
            continue
        examples.append(_Example(r, y, _task_key(t)))
    if not examples:
        raise DataError("no trajectory has an outcome (outcome.correct) to learn from", path=source)
    tasks = sorted({e.task for e in examples})
    random.Random(o.seed).shuffle(tasks)
    dev_tasks = set(tasks[: int(len(tasks) * o.dev_fraction)]) if len(examples) >= 20 else set()
    dev = [e for e in examples if e.task in dev_tasks]
    train = [e for e in examples if e.task not in dev_tasks]
    _cache_reference(model, train, o.batch_size)
    losses = _train_loop(model, train, o, progress)
    report = _dev_eval(model, dev, o)
    config.threshold = float(report["threshold"])
    stride = max(1, len(losses) // 50)
    config.training = {
        "options": asdict(o),
        "base": str(base),
        "source": source,
        "examples": len(train),
        "dev_examples": len(dev),
        "skipped": skipped,
        "right_share": sum(e.target for e in train) / len(train),
        "first_loss": losses[0],
        "final_loss": sum(losses[-stride:]) / len(losses[-stride:]),
        "loss_curve": [
            [i, round(sum(losses[i : i + stride]) / len(losses[i : i + stride]), 5)]
            for i in range(0, len(losses), stride)
        ],
        "seconds": round(time.perf_counter() - t0, 2),
        "device": str(model.device),
        **report,
    }
    model.save(out)
    return model
