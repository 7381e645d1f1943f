"""Rows that trainers load: TRL stepwise supervision, TRL DPO, Step-DPO, OpenAI chat.

Each ``*_row`` function turns one record into one row (a plain dict) or None when the
record cannot be expressed (the caller counts it as rejected, with the reason). Text is
rendered the same way everywhere: the task, then each step (an action's observation on
the following line), steps separated by ``sep``.

- ``trl-stepwise``: ``prompt``, ``completions`` (one per step), ``labels`` — bools, or with
  ``soft`` the label's score kept as a float. Neutral steps are ``neutral_as``; the row
  stops before the first unscored step; ``after_error="drop"`` stops after the first error.
- ``trl-dpo``: ``prompt`` (task and the shared prefix, explicit), ``chosen``, ``rejected``.
- ``step-dpo``: ``prompt`` (the task), ``initial_reason_steps`` (the shared prefix),
  ``chosen`` / ``rejected`` (one step each), ``full_chosen`` / ``full_rejected`` (that step
  and the rest of its solution) — the layout of Step-DPO, where the prompt is the task and
  no end-of-sequence token can land in the middle of a solution.
- ``openai-chat``: ``messages``, one assistant message per step carrying ``weight`` (0/1:
  the curation weight, 1 where absent; OpenAI accepts only 0 or 1, so weights are cut at
  0.5). An action step whose ``meta["tool_call"]`` holds ``{"id", "name", "arguments"}``
  becomes an assistant ``tool_calls`` message followed by a ``tool`` message with its
  observation; otherwise the observation follows as a ``user`` message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from stepsieve._errors import ConfigError
from stepsieve.curate._grading import Grading
from stepsieve.curate._pairs import StepPair
from stepsieve.trajectory import Step, Trajectory

__all__ = [
    "EXPORT_FORMATS",
    "ExportOptions",
    "chat_row",
    "dpo_row",
    "export_row",
    "parquet_schema",
    "render_step",
    "render_task",
    "step_dpo_row",
    "stepwise_row",
]

EXPORT_FORMATS = ("trl-stepwise", "trl-dpo", "step-dpo", "openai-chat")
PAIR_FORMATS = frozenset({"trl-dpo", "step-dpo"})


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """Layout options; ``label``/``threshold`` grade steps for ``trl-stepwise``."""

    format: str = "openai-chat"
    label: str = "truth"
    threshold: float | None = None
    soft: bool = False
    neutral_as: bool = True
    after_error: str = "keep"
    sep: str = "\n"
    weight_label: str = "curate"

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {self.format!r} (known: {', '.join(EXPORT_FORMATS)})")
        if self.after_error not in ("keep", "drop"):
            raise ConfigError(f"after_error must be keep or drop, got {self.after_error!r}")

    @property
    def wants_pairs(self) -> bool:
        return self.format in PAIR_FORMATS


def render_task(task: str | list[dict[str, Any]]) -> str:
    """A task as text: the string itself, or the contents of its messages, blank-line separated."""
    if isinstance(task, str):
        return task
    return "\n\n".join(
        m["content"] for m in task if isinstance(m, dict) and isinstance(m.get("content"), str)
    )


def render_step(s: Step) -> str:
    """A step as text: its text, and for an action its observation on the next line."""
    return s.text if s.observation is None else f"{s.text}\n{s.observation}"


def stepwise_row(t: Trajectory, opts: ExportOptions, grading: Grading | None = None) -> dict[str, Any] | None:
    g = grading or Grading(opts.label, opts.threshold)
    completions: list[str] = []
    labels: list[Any] = []
    for s in t.steps:
        v = g.verdict(s)
        if v is None:
            break
        if opts.soft:
            lab = s.labels[g.label]
            if lab.score is not None:
                y: Any = float(lab.score)
            else:
                y = 1.0 if v == "correct" else 0.0 if v == "incorrect" else float(opts.neutral_as)
        else:
            y = v == "correct" or (v == "neutral" and opts.neutral_as)
        completions.append(render_step(s))
        labels.append(y)
        if v == "incorrect" and opts.after_error == "drop":
            break
    if not completions:
        return None
    return {"prompt": render_task(t.task), "completions": completions, "labels": labels}


def dpo_row(p: StepPair, opts: ExportOptions) -> dict[str, Any]:
    sep = opts.sep
    prompt = render_task(p.task) + sep + "".join([render_step(s) + sep for s in p.prefix])
    return {"prompt": prompt, "chosen": p.chosen, "rejected": p.rejected}


def step_dpo_row(p: StepPair, opts: ExportOptions) -> dict[str, Any]:
    sep = opts.sep
    return {
        "prompt": render_task(p.task),
        "initial_reason_steps": "".join([render_step(s) + sep for s in p.prefix]),
        "chosen": p.chosen,
        "rejected": p.rejected,
        "full_chosen": sep.join([p.chosen, *p.chosen_rest]),
        "full_rejected": sep.join([p.rejected, *p.rejected_rest]),
    }


_MSG_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def chat_row(t: Trajectory, opts: ExportOptions) -> dict[str, Any] | None:
    if isinstance(t.task, str):
        msgs: list[dict[str, Any]] = [{"role": "user", "content": t.task}]
    else:
        msgs = [{k: m[k] for k in _MSG_KEYS if k in m} for m in t.task if isinstance(m, dict)]
    wl = opts.weight_label
    trained = 0
    append = msgs.append
    for i, s in enumerate(t.steps):
        lab = s.labels.get(wl)
        score = None if lab is None else lab.score
        w = 1 if score is None or score >= 0.5 else 0
        trained += w
        if s.kind == "action" and s.meta:
            call = s.meta.get("tool_call")
            if isinstance(call, dict) and "name" in call:
                cid = str(call.get("id") or f"call_{i}")
                args = call.get("arguments", "")
                if not isinstance(args, str):
                    args = orjson.dumps(args).decode()
                append(
                    {
                        "role": "assistant",
                        "content": s.thought,
                        "tool_calls": [
                            {
                                "id": cid,
                                "type": "function",
                                "function": {"name": str(call["name"]), "arguments": args},
                            }
                        ],
                        "weight": w,
                    }
                )
                append({"role": "tool", "tool_call_id": cid, "content": s.observation or ""})
                continue
        thought = s.thought
        append({"role": "assistant", "content": f"{thought}\n{s.text}" if thought else s.text, "weight": w})
        if s.observation is not None:
            append({"role": "user", "content": s.observation})
    if not trained:
        return None
    return {"messages": msgs}


def export_row(record: Trajectory | StepPair, opts: ExportOptions) -> dict[str, Any] | None:
    """The row of ``record`` in ``opts.format`` (None when it cannot be expressed)."""
    fn: Callable[[Any, ExportOptions], dict[str, Any] | None] = _ROW[opts.format]
    return fn(record, opts)


_ROW: dict[str, Callable[[Any, ExportOptions], dict[str, Any] | None]] = {
    "trl-stepwise": stepwise_row,
    "trl-dpo": dpo_row,
    "step-dpo": step_dpo_row,
    "openai-chat": chat_row,
}


def parquet_schema(opts: ExportOptions) -> Any:
    """The explicit Arrow schema of a format (inference would break on empty or null columns)."""
    import pyarrow as pa

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
            ("weight", pa.int64()),
        ]
    )
    return pa.schema([("messages", pa.list_(msg))])
