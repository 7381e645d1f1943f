"""From labels to training data: step filtering, pairs, advantages and trainer-ready exports.

- ``curate``: per-step SFT examples (WebSTAR), truncation at the first error, partial masking.
- ``pairs_for_task`` / ``make_pairs``: step-level preference pairs (siblings, Step-DPO).
- ``credit_task`` / ``credit``: per-step advantages (progress, fork-relative, mixed).
- ``export_row`` and the ``*_row`` builders: TRL stepwise, TRL DPO, Step-DPO, OpenAI chat,
  TRL SFT (``sft_chat_template`` puts its loss on the kept steps); ``openai_chat_problems``
  checks rows against OpenAI's documented fine-tuning rules (vision parts too).
- ``export_rows``: also the VLM layouts (``trl-vision`` with ``vlm_chat_template``,
  ``openai-vision``, ``llamafactory-vision``) and LLaMA-Factory's text ``llamafactory``.
- ``*_file`` jobs: the same, file to file, each leaving ``<output>.manifest.json``;
  ``pipeline_file`` curates and pairs in one read.

All of them read steps through ``Grading`` (one label, by verdict or threshold) and find
shared prefixes through ``stepsieve.trajectory.TaskTree``.
"""

from stepsieve.curate._chat import chat_messages
from stepsieve.curate._credit import CreditOptions, credit, credit_task
from stepsieve.curate._export import (
    DPO_CONSUMERS,
    EXPORT_FORMATS,
    ExportOptions,
    axolotl_row,
    chat_row,
    check_output,
    dpo_row,
    export_row,
    export_rows,
    parquet_schema,
    render_step,
    render_task,
    sft_row,
    step_dpo_row,
    stepwise_row,
)
from stepsieve.curate._filter import CurateOptions, CurateStats, curate, step_status, weights_of
from stepsieve.curate._grading import Grading
from stepsieve.curate._group import GroupStats, group_by_task
from stepsieve.curate._input import InputReader
from stepsieve.curate._jobs import credit_file, curate_file, export_file, pairs_file, read_pairs
from stepsieve.curate._openai_rules import check_openai_chat_file, openai_chat_problems
from stepsieve.curate._pairs import (
    PairOptions,
    PairStats,
    StepPair,
    first_line_split,
    make_pairs,
    pairs_for_task,
)
from stepsieve.curate._pipeline import pipeline_file
from stepsieve.curate._rows import RowWriter
from stepsieve.curate._sample import BackendSampler
from stepsieve.curate._sft_template import sft_chat_template, vlm_chat_template
from stepsieve.curate._vision_export import ExportMedia

__all__ = [
    "DPO_CONSUMERS",
    "EXPORT_FORMATS",
    "BackendSampler",
    "CreditOptions",
    "CurateOptions",
    "CurateStats",
    "ExportMedia",
    "ExportOptions",
    "Grading",
    "GroupStats",
    "InputReader",
    "PairOptions",
    "PairStats",
    "RowWriter",
    "StepPair",
    "axolotl_row",
    "chat_messages",
    "chat_row",
    "check_openai_chat_file",
    "check_output",
    "credit",
    "credit_file",
    "credit_task",
    "curate",
    "curate_file",
    "dpo_row",
    "export_file",
    "export_row",
    "export_rows",
    "first_line_split",
    "group_by_task",
    "make_pairs",
    "openai_chat_problems",
    "pairs_file",
    "pairs_for_task",
    "parquet_schema",
    "pipeline_file",
    "read_pairs",
    "render_step",
    "render_task",
    "sft_chat_template",
    "sft_row",
    "step_dpo_row",
    "step_status",
    "stepwise_row",
    "vlm_chat_template",
    "weights_of",
]
