"""``stepsieve train-prm``: fine-tune a step reward model on graded trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from stepsieve.cli._app import app
from stepsieve.trajectory import AFTER_ERROR_RULES, check_after_error


@app.command("train-prm")
def train_prm_cmd(
    data: Path = typer.Argument(..., help="Graded trajectories (JSONL) carrying the label to learn."),
    base: str = typer.Option(
        None, "--base",
        help="Base model directory: a causal LM with its tokenizer, or a vision-language model "
        "(AutoModelForImageTextToText + AutoProcessor, e.g. Qwen2.5-VL) that sees the steps' screenshots; "
        "not used by --arch vision (the embedded screen model).",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Output directory (from_pretrained layout + stepsieve_prm.json)."
    ),
    label: str = typer.Option(
        None, "--label", help="Label name to learn from, e.g. mc (the StepRM objective)."
    ),
    objective: str = typer.Option(
        "steprm",
        "--objective",
        help="steprm (a head on step labels) or implicit "
        "(an implicit PRM: a copy of --base trained on outcome labels only, "
        "against --base frozen as its reference).",
    ),
    implicit_loss: str = typer.Option(
        "ce",
        "--implicit-loss",
        help="implicit: ce (cross-entropy of "
        "sigmoid(beta * sum log pi/pi_ref) on the outcome) or dpo (right vs wrong "
        "solution of one task).",
    ),
    beta: float = typer.Option(0.05, "--beta", help="implicit: reward scale, r = beta * log(pi / pi_ref)."),
    implicit_score: str = typer.Option(
        "cumulative",
        "--implicit-score",
        help="implicit: the step score the "
        "threshold is picked for: cumulative (sigmoid of q_j) or step "
        "(sigmoid of r_j).",
    ),
    soft: bool = typer.Option(
        False, "--soft", help="Learn the label's score as a float target (else its verdict)."
    ),
    separator: str = typer.Option(
        None, "--separator",
        help="Step separator; must be one token of the tokenizer (default: \\n; a VLM: <|im_end|>).",
    ),
    epochs: int = typer.Option(None, "--epochs", help="Default: 3 steprm, 2 implicit."),
    batch_size: int = typer.Option(16, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default: 3e-4 steprm, 1e-4 implicit)."),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", help="Held out to pick the verdict threshold."),
    after_error: str = typer.Option(
        "incorrect", "--after-error",
        help="Undecided steps after the first error: incorrect | skip (the rule every export shares).",
    ),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option(None, "--device", help="cpu, cuda... (default: cuda when present)."),
    bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast on CUDA."),
    head: str = typer.Option(
        "linear",
        "--head",
        help="linear (Linear at the separator), policy (an MLP over the "
        "separator state and the base model's own token log-probs; needs tied embeddings) "
        "or logprobs (that MLP over the log-prob features alone).",
    ),
    head_width: int = typer.Option(64, "--head-width", help="Hidden units of the policy head."),
    freeze_backbone: bool = typer.Option(False, "--freeze-backbone", help="Train the head only."),
    template: str = typer.Option(
        None,
        "--template",
        help="Task layout before the steps; {task} is replaced, \\n is a newline. "
        "Use the policy's prompt, e.g. 'Problem: {task}\\nSolution:\\n' (default: "
        "'{task}\\n' for steprm, the embedded policy's prompt for implicit).",
    ),
    error_weight: float = typer.Option(1.0, "--error-weight", help="Loss weight of incorrect targets."),
    finetune_epochs: int = typer.Option(
        0,
        "--finetune-epochs",
        help="With --freeze-backbone: then train backbone "
        "and head together for this many epochs (the shipped StepRM: 2).",
    ),
    finetune_lr: float = typer.Option(3e-4, "--finetune-lr", help="Learning rate of the joint stage."),
    arch: str = typer.Option(
        "auto", "--arch",
        help="text (a StepRM on --base: a causal LM, or a vision-language model that sees the screenshots), "
        "vision (the small embedded screen model: CNN + text, no --base, docs/steprm.md) or auto: vision when "
        "the records' steps carry images and no --base is given, else text.",
    ),
    targets: str = typer.Option(
        "verdict", "--targets",
        help="vision: per-step targets from mc labels: verdict (mc's, errors carried forward), value "
        "(soft) or advantage (the share of the success chance a step kept; needs mc root=true).",
    ),
    allow_pickle_weights: bool = typer.Option(
        False, "--allow-pickle-weights",
        help="Load a --base that has only pickled weights (pytorch_model.bin): they run code when loaded.",
    ),
) -> None:
    """Train a StepRM: a scalar head read at each step separator, BCE on hard or soft labels.

    Examples:

      stepsieve train-prm graded.jsonl --base src/stepsieve/embedded/policy --out steprm --label mc --soft

      stepsieve train-prm graded.jsonl --base src/stepsieve/embedded/policy --out steprm --label mc \
          --head logprobs --freeze-backbone --template 'Problem: {task}\\nSolution:\\n' --epochs 20 \
          --lr 3e-3 --finetune-epochs 2

      stepsieve train-prm graded.jsonl --base Qwen/Qwen2.5-0.5B --out steprm --label mc --device cuda --bf16

      stepsieve train-prm gui-graded.jsonl --base /models/Qwen2.5-VL-3B-Instruct --out vlm-steprm --label mc \
          --device cuda --bf16 --batch-size 4 --lr 1e-5

      stepsieve train-prm gui.mc.jsonl --out gui-steprm --label mc --arch vision   # the small screen model

      stepsieve train-prm samples.jsonl --objective implicit --base src/stepsieve/embedded/policy \
          --out implicit-prm --template 'Problem: {task}\\nSolution:\\n' --beta 0.05 --lr 3e-4
    """
    from stepsieve.cli._train_vision import train_vision, wants_vision
    from stepsieve.formats import read_trajectories
    from stepsieve.media import MediaResolver
    from stepsieve.prm import TrainOptions, train_prm

    if objective == "steprm" and wants_vision(arch, data, base):
        train_vision(data, out, label, targets, epochs, batch_size, lr, dev_fraction, error_weight, seed, device)
        return
    if not base:
        raise typer.BadParameter("--base is required for a text or vision-language StepRM and for --objective "
                                 "implicit (--arch vision trains the embedded screen model without one)")
    sep = separator.encode().decode("unicode_escape") if separator and "\\" in separator else separator
    if objective == "implicit":
        sep = sep or "\n"
        template = template or "Problem: {task}\\nSolution:\\n"
        _train_implicit(
            data,
            base,
            out,
            sep,
            template.replace("\\n", "\n"),
            implicit_loss,
            beta,
            implicit_score,
            epochs or 2,
            batch_size,
            lr or 1e-4,
            dev_fraction,
            seed,
            device,
            bf16,
            allow_pickle_weights,
        )
        return
    if objective != "steprm":
        raise typer.BadParameter(f"--objective must be steprm or implicit, got {objective!r}")
    if not label:
        raise typer.BadParameter("--label is required for --objective steprm (e.g. --label mc)")
    if after_error not in AFTER_ERROR_RULES:
        raise typer.BadParameter(f"--after-error must be one of {', '.join(AFTER_ERROR_RULES)}, got {after_error!r}")
    epochs, lr, template = epochs or 3, lr or 3e-4, template or "{task}\\n"
    options = TrainOptions(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        dev_fraction=dev_fraction,
        after_error=check_after_error(after_error),
        seed=seed,
        bf16=bf16,
        error_weight=error_weight,
        finetune_epochs=finetune_epochs,
        finetune_lr=finetune_lr,
    )
    model = train_prm(
        read_trajectories(data),
        base=base,
        out=out,
        label=label,
        soft=soft,
        separator=sep,
        template=template.replace("\\n", "\n"),
        head=head,
        head_width=head_width,
        freeze_backbone=freeze_backbone,
        options=options,
        device=device,
        progress=True,
        source=str(data),
        allow_pickle=allow_pickle_weights,
        media=MediaResolver(data),  # a VLM base reads the records' screenshots beside them
    )
    _echo_summary(model.config.training, out, ("dev_loss", "threshold", "dev_f1_vs_label", "seconds"))


def _train_implicit(
    data: Path,
    base: str,
    out: Path,
    sep: str,
    template: str,
    loss: str,
    beta: float,
    score: str,
    epochs: int,
    batch_size: int,
    lr: float,
    dev_fraction: float,
    seed: int,
    device: str | None,
    bf16: bool,
    allow_pickle: bool,
) -> None:
    from stepsieve.formats import read_trajectories
    from stepsieve.prm import ImplicitTrainOptions, train_implicit_prm

    options = ImplicitTrainOptions(
        objective=loss,
        beta=beta,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        dev_fraction=dev_fraction,
        score=score,
        seed=seed,
        bf16=bf16,
    )
    model = train_implicit_prm(
        read_trajectories(data),
        base=base,
        out=out,
        options=options,
        separator=sep,
        template=template,
        device=device,
        progress=True,
        source=str(data),
        allow_pickle=allow_pickle,
    )
    keys = ("dev_loss", "dev_outcome_accuracy", "threshold", "dev_f1_vs_outcome", "seconds")
    _echo_summary(model.config.training, out, keys)


def _echo_summary(training: dict[str, Any], out: Path, keys: tuple[str, ...]) -> None:
    """The training figures both objectives report, then the model directory."""
    common = ("examples", "dev_examples", "skipped", "first_loss", "final_loss")
    typer.echo(json.dumps({k: training[k] for k in common + keys}))
    typer.echo(str(out))
