"""``stepsieve curate | pairs | credit | export``: graded trajectories to training data.

Thin verbs over ``stepsieve.curate``; each prints its counts as one JSON line and leaves
``<output>.manifest.json`` beside its output.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from stepsieve.cli._app import app
from stepsieve.cli._model_options import MODEL_OPTIONS, ModelOptions, backend_from_options, report_backend
from stepsieve.cli._option_groups import Built, with_option_groups

_LABEL = typer.Option(
    "truth", "--label", "-l", help="Label that grades steps (truth, mc, judge, rules, prm...)."
)
_THRESH = typer.Option(
    None, "--threshold", help="Judge by score >= THRESHOLD instead of the label's verdict."
)
_ON_ERROR = typer.Option(
    "raise",
    "--on-error",
    help="raise: stop at the first bad record; skip: quarantine it to OUT.rejected.jsonl.",
)
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")


def _echo(counts: dict[str, object], out: Path) -> None:
    typer.echo(json.dumps(counts))
    typer.echo(str(out))


_EX_CURATE = "\n\n".join([
    "Examples:",
    "  stepsieve curate graded.jsonl -o sft.jsonl --label truth --mode truncate",
    "  stepsieve curate agent.jsonl -o steps.jsonl --label judge --mode steps --neutral mask",
    "  stepsieve curate graded.jsonl -o masked.jsonl --label mc --threshold 0.5 --mode mask --after-error grade",
])


@app.command("curate", epilog=_EX_CURATE)
def curate_cmd(
    input: Path = typer.Argument(..., help="Graded trajectories (.jsonl or .parquet)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Curated trajectories (.jsonl or .parquet); weights in label 'curate'."
    ),
    label: str = _LABEL,
    threshold: float = _THRESH,
    mode: str = typer.Option("mask", "--mode", help="steps (one example per good step) | truncate | mask."),
    neutral: str = typer.Option("keep", "--neutral", help="Neutral steps: keep | mask | error."),
    unscored: str = typer.Option("mask", "--unscored", help="Steps without the label: keep | mask | error."),
    after_error: str = typer.Option(
        None, "--after-error", help="Steps after the first error: drop | mask | grade."
    ),
    error_weight: float = typer.Option(
        0.0, "--error-weight", help="Weight of the first wrong step (mask mode)."
    ),
    min_steps: int = typer.Option(1, "--min-steps", help="Reject truncated trajectories shorter than this."),
    on_error: str = _ON_ERROR,
    quiet: bool = _QUIET,
) -> None:
    """Filter, truncate or mask steps for SFT (WebSTAR step filtering, STeP partial masking)."""
    from stepsieve._registry import parse_options
    from stepsieve.curate import CurateOptions, Grading, curate_file

    # the choice flags arrive as text: the shared option parser checks them against the Literals
    opts = parse_options(CurateOptions, {
        "mode": mode, "neutral": neutral, "unscored": unscored, "after_error": after_error,
        "error_weight": error_weight, "min_steps": min_steps,
    }, "curate")
    counts = curate_file(input, out, Grading(label, threshold), opts, on_error=on_error, progress=not quiet)
    _echo(counts, out)


_DPO_FOR = typer.Option(
    "trl", "--for",
    help="step-dpo rows: trl (prompt = task + previous steps, what DPOTrainer reads) | step-dpo "
    "(prompt = task; Step-DPO's trainer appends initial_reason_steps).",
)

_EX_PAIRS = "\n\n".join([
    "Examples:",
    "  stepsieve pairs graded.jsonl -o pairs.jsonl --label truth --value-label mc --margin 0.4",
    "  stepsieve pairs graded.jsonl -o step_dpo.parquet --format step-dpo --label mc --threshold 0.5",
    "  stepsieve pairs graded.jsonl -o dpo.jsonl --format trl-dpo --kinds first_error --max-per-task 2",
    "  stepsieve pairs graded.jsonl -o pairs.jsonl --kinds first_error --sample-world arith --sample-n 8",
])


@app.command("pairs", epilog=_EX_PAIRS)
@with_option_groups
def pairs_cmd(
    input: Path = typer.Argument(..., help="Graded trajectories, several per task (.jsonl or .parquet)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Pairs (.jsonl), or trl-dpo / step-dpo rows (.jsonl/.parquet)."
    ),
    label: str = _LABEL,
    threshold: float = _THRESH,
    value_label: str = typer.Option(
        "mc", "--value-label", help="Label whose scores give prefix values (MC)."
    ),
    margin: float = typer.Option(0.5, "--margin", help="Minimum value gap between sibling steps."),
    kinds: str = typer.Option("sibling,first_error", "--kinds", help="Comma list: sibling, first_error."),
    max_per_task: int = typer.Option(
        8, "--max-per-task", help="Cap on pairs per task (balanced over prefixes)."
    ),
    rollout_label: str = typer.Option(
        None, "--rollout-label", help="Label holding MC rollouts (default: --value-label)."
    ),
    consistent: bool = typer.Option(
        True,
        "--consistent/--any-verdict",
        help="Drop sibling pairs whose chosen step --label grades incorrect.",
    ),
    fmt: str = typer.Option("pairs", "--format", "-f", help="pairs (StepPair records) | trl-dpo | step-dpo."),
    dpo_for: str = _DPO_FOR,
    sep: str = typer.Option("\\n", "--sep", help="Step separator used to render text."),
    max_open: int = typer.Option(1024, "--max-open", help="Task groups buffered at once (bounded memory)."),
    contiguous: bool = typer.Option(
        False, "--contiguous", help="Each task's trajectories are adjacent in the input."
    ),
    sample_world: str = typer.Option(
        None,
        "--sample-world",
        help="Step-DPO: when no recorded rollout or tree sibling gives a chosen step, sample "
        "continuations with a policy and check them with this world (arith, toolcalc...).",
    ),
    sample_n: int = typer.Option(8, "--sample-n", help="Continuations sampled per first error."),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Tokens per sampled continuation."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed."),
    model_options: Built[ModelOptions] = MODEL_OPTIONS.without("dry_run", "timeout", "api_key_file"),
    on_error: str = _ON_ERROR,
    quiet: bool = _QUIET,
) -> None:
    """Step-level preference pairs: siblings with different MC values, and Step-DPO at the first error."""
    from stepsieve.curate import BackendSampler, ExportOptions, Grading, PairOptions, pairs_file

    sampler = None
    if sample_world is not None:
        from stepsieve.worlds import get_world

        world = get_world(sample_world)
        be = backend_from_options(model_options())
        sampler = BackendSampler(
            be, world, n=sample_n, max_tokens=max_tokens, temperature=temperature, seed=seed
        )

    opts = PairOptions(
        label=value_label,
        margin=margin,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
        max_per_task=max_per_task,
        rollout_label=rollout_label,
        consistent=consistent,
    )
    export = None if fmt == "pairs" else ExportOptions(format=fmt, sep=_unescape(sep), dpo_for=dpo_for)
    counts = pairs_file(
        input,
        out,
        Grading(label, threshold),
        opts,
        fmt=fmt,
        export=export,
        sep=_unescape(sep),
        max_open=max_open,
        contiguous=contiguous,
        on_error=on_error,
        progress=not quiet,
        sampler=sampler,
    )
    if sampler is not None:
        report_backend(sampler.backend)
    _echo(counts, out)


_EX_CREDIT = "\n\n".join([
    "Examples:",
    "  stepsieve credit graded.jsonl -o credited.jsonl --value-label mc --method progress",
    "  stepsieve credit graded.jsonl -o credited.jsonl --method mixed --alpha 0.3 --process fork",
])


@app.command("credit", epilog=_EX_CREDIT)
def credit_cmd(
    input: Path = typer.Argument(..., help="Trajectories with a value label (e.g. mc), several per task."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="The same trajectories with an advantage label (.jsonl or .parquet)."
    ),
    value_label: str = typer.Option("mc", "--value-label", help="Label whose scores give prefix values."),
    name: str = typer.Option("advantage", "--name", help="Name of the label written."),
    method: str = typer.Option("mixed", "--method", help="progress | fork | mixed (the label's score)."),
    process: str = typer.Option("progress", "--process", help="Process term of mixed: progress | fork."),
    alpha: float = typer.Option(0.5, "--alpha", help="Weight of the normalised outcome reward in mixed."),
    max_open: int = typer.Option(1024, "--max-open", help="Task groups buffered at once (bounded memory)."),
    contiguous: bool = typer.Option(
        False, "--contiguous", help="Each task's trajectories are adjacent in the input."
    ),
    on_error: str = _ON_ERROR,
    quiet: bool = _QUIET,
) -> None:
    """Per-step advantages for RL: progress (ΔV), fork-relative, and a mix with the outcome reward."""
    from stepsieve.curate import CreditOptions, credit_file

    opts = CreditOptions(label=value_label, name=name, method=method, process=process, alpha=alpha)
    counts = credit_file(
        input, out, opts, max_open=max_open, contiguous=contiguous, on_error=on_error, progress=not quiet
    )
    _echo(counts, out)


_EX_EXPORT = "\n\n".join([
    "Examples:",
    "  stepsieve export graded.jsonl -o prm.parquet --format trl-stepwise --label mc --soft",
    "  stepsieve curate graded.jsonl -o masked.jsonl --mode mask\n"
    "  stepsieve export masked.jsonl -o ft.jsonl --format openai-chat",
    "  stepsieve export masked.jsonl -o sft.parquet --format trl-sft",
    "  stepsieve pairs graded.jsonl -o pairs.jsonl && stepsieve export pairs.jsonl -o dpo.parquet --format trl-dpo",
    "  stepsieve export masked_gui.jsonl -o vlm/sft.jsonl --format trl-vision      # + vlm/sft.jsonl.media/",
    "  stepsieve export masked_gui.jsonl -o lf/gui.jsonl --format llamafactory-vision   # + lf/dataset_info.json",
])


@app.command("export", epilog=_EX_EXPORT)
def export_cmd(
    input: Path = typer.Argument(
        ..., help="Trajectories (stepwise, chat) or pairs from `stepsieve pairs` (dpo)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output rows: .jsonl or .parquet (datasets loads both)."
    ),
    fmt: str = typer.Option(
        ..., "--format", "-f",
        help="trl-stepwise | trl-dpo | step-dpo | openai-chat | trl-sft | axolotl | trl-vision | openai-vision "
        "| llamafactory | llamafactory-vision."
    ),
    label: str = _LABEL,
    threshold: float = _THRESH,
    soft: bool = typer.Option(False, "--soft", help="trl-stepwise: keep the label's score as a float."),
    neutral_as: bool = typer.Option(
        True, "--neutral-as/--neutral-as-false", help="trl-stepwise: hard label of neutral steps."
    ),
    after_error: str = typer.Option(
        "incorrect", "--after-error",
        help="trl-stepwise: undecided steps after the first error are incorrect | skip (as train-prm).",
    ),
    turns: str = typer.Option(
        "merge", "--turns",
        help="openai-chat / trl-sft / axolotl: merge same-weight steps into one assistant message | step (one each).",
    ),
    dpo_for: str = _DPO_FOR,
    obs_text: bool = typer.Option(
        False, "--obs-text", help="vision formats: show an observation's text beside its screenshot."
    ),
    lf_rows: str = typer.Option(
        "turn", "--lf-rows",
        help="llamafactory*: one row per trained turn (train with mask_history: true) | record (all turns trained).",
    ),
    max_images: int = typer.Option(10, "--max-images", help="openai-vision: screenshots per example (OpenAI: <= 10)."),
    sep: str = typer.Option("\\n", "--sep", help="Step separator used to render text."),
    weight_label: str = typer.Option(
        "curate", "--weight-label", help="openai-chat: label holding per-step weights."
    ),
    on_error: str = _ON_ERROR,
    quiet: bool = _QUIET,
) -> None:
    """Write rows trainers load: TRL stepwise / DPO, Step-DPO, OpenAI chat with per-message weight."""
    from stepsieve.curate import ExportOptions, export_file

    opts = ExportOptions(
        format=fmt,
        label=label,
        threshold=threshold,
        soft=soft,
        neutral_as=neutral_as,
        after_error=after_error,
        sep=_unescape(sep),
        weight_label=weight_label,
        turns=turns,
        dpo_for=dpo_for,
        obs_text=obs_text,
        lf_rows=lf_rows,
        max_images=max_images,
    )
    counts = export_file(input, out, opts, on_error=on_error, progress=not quiet)
    _echo(counts, out)


def _unescape(s: str) -> str:
    return s.encode().decode("unicode_escape") if "\\" in s else s
