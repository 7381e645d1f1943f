"""Rows that trainers load: TRL stepwise supervision, TRL DPO, Step-DPO, OpenAI chat, TRL SFT.

Each ``*_row`` function turns one record into one row (a plain dict) or None when the
record cannot be expressed (the caller counts it as rejected, with the reason). Text is
rendered the same way everywhere (``_render``): the task, then each step (an action's
observation on the following line), steps separated by ``sep``. Every row names the
trainer that consumes it (README's export table says which tokens carry loss there):

- ``trl-stepwise`` (TRL ``PRMTrainer``): ``prompt``, ``completions`` (one per step),
  ``labels`` — bools, or with ``soft`` the label's score kept as a float. Neutral steps are
  ``neutral_as``; undecided steps after the first error follow ``after_error`` (the rule
  ``train-prm`` uses too: ``incorrect`` by default, or ``skip``); the row stops before the
  first other undecided step.
- ``trl-dpo`` (TRL ``DPOTrainer``): ``prompt`` (task and the shared prefix, explicit),
  ``chosen``, ``rejected``.
- ``step-dpo``: ``prompt``, ``initial_reason_steps`` (the shared prefix), ``chosen`` /
  ``rejected`` (one step each), ``full_chosen`` / ``full_rejected`` (that step and the rest
  of its solution). ``dpo_for="trl"`` (default): ``prompt`` is the task *and* the prefix, the
  context TRL's DPOTrainer conditions on (it ignores ``initial_reason_steps``).
  ``dpo_for="step-dpo"``: ``prompt`` is the task alone, the layout of Step-DPO's own trainer,
  which appends ``initial_reason_steps`` itself.
- ``openai-chat`` (OpenAI fine-tuning, JSONL only): ``messages`` (``_chat``: steps merged into
  turns by weight, real ``tool_calls`` with ``tool`` results), ``weight`` 0/1 on assistant
  messages only; rows meet OpenAI's documented rules (``_openai_rules``).
- ``trl-sft`` (TRL ``SFTTrainer`` with ``assistant_only_loss=True`` and a chat template whose
  ``{% generation %}`` blocks cover the assistant messages of weight 1, e.g.
  ``sft_chat_template()``): the same ``messages``; Parquet too.
- ``axolotl`` (axolotl ``type: chat_template`` with ``message_field_training: train``): the
  same ``messages``, each with ``train`` (true on assistant messages of weight 1) instead of
  ``weight``; axolotl trains a message's tokens, and with ``train_on_eos: turn`` its end of
  turn, exactly where ``train`` is true.

Vision-language and LLaMA-Factory layouts (``_vision`` builds the multimodal conversation,
``_vision_export`` and ``_llamafactory`` the rows; their images go through ``ExportMedia``):

- ``trl-vision`` (TRL ``SFTTrainer`` on a VLM, ``assistant_only_loss=True`` with
  ``vlm_chat_template()``): ``messages`` of content parts (``{"type": "image"}`` / text) with
  ``weight``, and ``images`` (paths into the export's ``OUT.media``).
- ``openai-vision`` (OpenAI vision fine-tuning): ``image_url`` parts with ``data:`` URLs.
- ``llamafactory`` / ``llamafactory-vision`` (LLaMA-Factory ``sharegpt``, with
  ``dataset_info.json`` beside the export): one row per trained turn for ``mask_history:
  true`` (``lf_rows="turn"``), or one per trajectory (``lf_rows="record"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.curate._chat import TURNS, chat_messages
from stepsieve.curate._grading import Grading
from stepsieve.curate._llamafactory import LF_ROWS, LfCounts, llamafactory_rows
from stepsieve.curate._pairs import StepPair
from stepsieve.curate._render import render_prompt, render_step, render_task
from stepsieve.curate._vision_export import OPENAI_MAX_IMAGES, ExportMedia, openai_vision_row, trl_vision_row
from stepsieve.trajectory import DEFAULT_AFTER_ERROR, Trajectory, after_error_verdicts, check_after_error

__all__ = [
    "DPO_CONSUMERS",
    "EXPORT_FORMATS",
    "ExportOptions",
    "axolotl_row",
    "chat_row",
    "check_output",
    "dpo_row",
    "export_row",
    "export_rows",
    "parquet_schema",
    "render_step",
    "render_task",
    "sft_row",
    "step_dpo_row",
    "stepwise_row",
]

EXPORT_FORMATS = ("trl-stepwise", "trl-dpo", "step-dpo", "openai-chat", "trl-sft", "axolotl",
                  "trl-vision", "openai-vision", "llamafactory", "llamafactory-vision")
# Formats whose rows reference image files linked into the export's OUT.media folder.
MEDIA_FORMATS = frozenset({"trl-vision", "openai-vision", "llamafactory-vision"})
LF_FORMATS = frozenset({"llamafactory", "llamafactory-vision"})
# Formats that read per-step weights (``weight_label``) rather than grades.
WEIGHT_FORMATS = frozenset({"openai-chat", "trl-sft", "axolotl"}) | MEDIA_FORMATS | LF_FORMATS
PAIR_FORMATS = frozenset({"trl-dpo", "step-dpo"})
DPO_CONSUMERS = ("trl", "step-dpo")


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Layout options; ``label``/``threshold`` grade steps for ``trl-stepwise``.

    ``after_error``: undecided steps after the first error (``incorrect`` | ``skip``, the rule
    train-prm shares). ``turns``: chat exports merge same-weight steps into one assistant
    message (``merge``) or write one per step (``step``). ``dpo_for``: whose trainer reads
    ``step-dpo`` rows (``trl`` | ``step-dpo``). ``obs_text``: vision exports show an
    observation's text beside its screenshot (default: the screenshot alone; a step without
    one always shows its text). ``lf_rows``: LLaMA-Factory rows per trained ``turn`` (for
    ``mask_history: true``) or per ``record``. ``max_images``: ``openai-vision``'s limit per
    example (OpenAI's is 10; older screenshots beyond it are left out).
    """

    format: str = "openai-chat"
    label: str = "truth"
    threshold: float | None = None
    soft: bool = False
    neutral_as: bool = True
    after_error: str = DEFAULT_AFTER_ERROR
    sep: str = "\n"
    weight_label: str = "curate"
    turns: str = "merge"
    dpo_for: str = "trl"
    obs_text: bool = False
    lf_rows: str = "turn"
    max_images: int = OPENAI_MAX_IMAGES

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {self.format!r} (known: {', '.join(EXPORT_FORMATS)})")
        check_after_error(self.after_error)
        if self.turns not in TURNS:
            raise ConfigError(f"turns must be one of {', '.join(TURNS)}, got {self.turns!r}")
        if self.dpo_for not in DPO_CONSUMERS:
            raise ConfigError(f"dpo_for must be one of {', '.join(DPO_CONSUMERS)}, got {self.dpo_for!r}")
        if self.lf_rows not in LF_ROWS:
            raise ConfigError(f"lf_rows must be one of {', '.join(LF_ROWS)}, got {self.lf_rows!r}")
        if not 1 <= self.max_images <= OPENAI_MAX_IMAGES:
            raise ConfigError(f"max_images must be 1..{OPENAI_MAX_IMAGES} (OpenAI's limit), got {self.max_images}")

    @property
    def wants_pairs(self) -> bool:
        return self.format in PAIR_FORMATS


def check_output(opts: ExportOptions, path: str | Path) -> None:
    """ConfigError when ``path``'s container cannot hold the format faithfully."""
    if (opts.format in MEDIA_FORMATS or opts.format in LF_FORMATS) and Path(path).suffix.lower() == ".parquet":
        raise ConfigError(f"{path}: {opts.format} is written as .jsonl (its trainers read JSON lines)")
    if opts.format == "openai-chat" and Path(path).suffix.lower() == ".parquet":
        raise ConfigError(
            f"{path}: openai-chat is OpenAI's JSONL upload format; in Parquet every message would get "
            "every key (weight: null on user messages), which its rules reject. Write .jsonl, or use "
            "--format trl-sft for Parquet"
        )


def stepwise_row(t: Trajectory, opts: ExportOptions, grading: Grading | None = None) -> dict[str, Any] | None:
    g = grading or Grading(opts.label, opts.threshold)
    completions: list[str] = []
    labels: list[Any] = []
    for s, v in zip(t.steps, after_error_verdicts(g.verdicts(t), opts.after_error)):
        if v is None:
            break
        if opts.soft:
            lab = s.labels.get(g.label)
            if lab is not None and lab.score is not None:
                y: Any = float(lab.score)
            else:
                y = 1.0 if v == "correct" else 0.0 if v == "incorrect" else float(opts.neutral_as)
        else:
            y = v == "correct" or (v == "neutral" and opts.neutral_as)
        completions.append(render_step(s))
        labels.append(y)
    if not completions:
        return None
    return {"prompt": render_task(t.task), "completions": completions, "labels": labels}


def dpo_row(p: StepPair, opts: ExportOptions) -> dict[str, Any]:
    return {"prompt": render_prompt(p.task, p.prefix, opts.sep), "chosen": p.chosen, "rejected": p.rejected}


def step_dpo_row(p: StepPair, opts: ExportOptions) -> dict[str, Any]:
    sep = opts.sep
    return {
        "prompt": render_prompt(p.task, p.prefix, sep) if opts.dpo_for == "trl" else render_task(p.task),
        "initial_reason_steps": "".join([render_step(s) + sep for s in p.prefix]),
        "chosen": p.chosen,
        "rejected": p.rejected,
        "full_chosen": sep.join([p.chosen, *p.chosen_rest]),
        "full_rejected": sep.join([p.rejected, *p.rejected_rest]),
    }


def chat_row(t: Trajectory, opts: ExportOptions) -> dict[str, Any] | None:
    """OpenAI fine-tuning example (None when no step is trained on)."""
    msgs, trained = chat_messages(t, opts.weight_label, opts.turns, opts.sep)
    if not trained:
        return None
    row: dict[str, Any] = {"messages": msgs}
    tools = (t.meta.get("extra_fields") or {}).get("tools")
    if isinstance(tools, list) and any("tool_calls" in m for m in msgs):
        row["tools"] = tools
    return row


def sft_row(t: Trajectory, opts: ExportOptions) -> dict[str, Any] | None:
    """TRL SFT conversation (None when no step is trained on)."""
    msgs, trained = chat_messages(t, opts.weight_label, opts.turns, opts.sep)
    return {"messages": msgs} if trained else None


def axolotl_row(t: Trajectory, opts: ExportOptions) -> dict[str, Any] | None:
    """axolotl chat_template conversation, a ``train`` flag per message (None: nothing trained)."""
    msgs, trained = chat_messages(t, opts.weight_label, opts.turns, opts.sep)
    if not trained:
        return None
    for m in msgs:
        m["train"] = m.pop("weight", 0) == 1
    return {"messages": msgs}


def export_row(record: Trajectory | StepPair, opts: ExportOptions) -> dict[str, Any] | None:
    """The row of ``record`` in ``opts.format`` (None when it cannot be expressed)."""
    fn = _ROW.get(opts.format)
    if fn is None:
        raise ConfigError(f"{opts.format} rows need the export's media or give several rows: use export_rows")
    return fn(record, opts)


def export_rows(record: Trajectory | StepPair, opts: ExportOptions, media: ExportMedia | None = None,
                lf: LfCounts | None = None) -> list[dict[str, Any]]:
    """The rows of ``record`` in ``opts.format``: one for most formats, one per trained turn
    for LLaMA-Factory's turn rows, none when it cannot be expressed. Vision formats need the
    export's ``media`` (``ExportMedia(input, output)``)."""
    fmt = opts.format
    if fmt in MEDIA_FORMATS and media is None:
        raise ConfigError(f"{fmt} needs the export's media (ExportMedia(input, output))")
    if fmt in LF_FORMATS:
        assert isinstance(record, Trajectory)
        return llamafactory_rows(record, media if fmt == "llamafactory-vision" else None, opts.weight_label,
                                 opts.turns, opts.sep, opts.obs_text, opts.lf_rows, lf or LfCounts())
    row: dict[str, Any] | None
    if fmt == "trl-vision":
        row = trl_vision_row(record, media, opts.weight_label, opts.turns, opts.sep, opts.obs_text)  # type: ignore[arg-type]
    elif fmt == "openai-vision":
        row = openai_vision_row(record, media, opts.weight_label, opts.turns, opts.sep,  # type: ignore[arg-type]
                                opts.obs_text, opts.max_images)
    else:
        row = export_row(record, opts)
    return [] if row is None else [row]


_ROW: dict[str, Callable[[Any, ExportOptions], dict[str, Any] | None]] = {
    "trl-stepwise": stepwise_row,
    "trl-dpo": dpo_row,
    "step-dpo": step_dpo_row,
    "openai-chat": chat_row,
    "trl-sft": sft_row,
    "axolotl": axolotl_row,
}


def parquet_schema(opts: ExportOptions) -> Any:
    """The explicit Arrow schema of a format (inference would break on empty or null columns)."""
    import pyarrow as pa

    if opts.format in MEDIA_FORMATS or opts.format in LF_FORMATS:
        return None  # JSONL only (check_output)
    s = pa.string()
    if opts.format == "trl-stepwise":
        lab = pa.float64() if opts.soft else pa.bool_()
        return pa.schema([("prompt", s), ("completions", pa.list_(s)), ("labels", pa.list_(lab))])
    if opts.format == "trl-dpo":
        return pa.schema([("prompt", s), ("chosen", s), ("rejected", s)])
    if opts.format == "step-dpo":
        return pa.schema(
            [
                (n, s)
                for n in (
                    "prompt",
                    "initial_reason_steps",
                    "chosen",
                    "rejected",
                    "full_chosen",
                    "full_rejected",
                )
            ]
        )
    call = pa.struct([("id", s), ("type", s), ("function", pa.struct([("name", s), ("arguments", s)]))])
    msg = pa.struct(
        [
            ("role", s),
            ("content", s),
            ("name", s),
            ("tool_calls", pa.list_(call)),
            ("tool_call_id", s),
            ("train", pa.bool_()) if opts.format == "axolotl" else ("weight", pa.int64()),
        ]
    )
    return pa.schema([("messages", pa.list_(msg))])
