"""The ONE rendering of a trajectory into token ids and separator positions.

Training and scoring both call :func:`render` — nothing else tokenizes a trajectory for the
step reward model — so the separator sits at exactly the same token positions in both paths.
(search-and-learn repeats the separator and tokenizer-specific ids as literals in several
places; a mismatch there silently scores the wrong token.)

Layout: ``[bos] template(task) step_0 <sep> step_1 <sep> ... step_n <sep>``, where the
template defaults to ``"{task}\\n"``; a StepRM built on a policy can use the policy's own
prompt layout (e.g. ``"Problem: {task}\\nSolution:\\n"``), so the backbone reads the steps in
the context it was trained on (its token log-probabilities are then meaningful features). Pieces are encoded
separately and concatenated, and the separator is appended as its token id, so:

* a separator string inside a step can never be confused with the step boundary, and
  BPE merges cannot swallow the separator into a neighbouring token;
* rendering the first k steps gives exactly a prefix of the full rendering, so one causal
  forward pass over the whole trajectory scores each step as if its prefix were scored alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from stepsieve._errors import ConfigError
from stepsieve.trajectory import Step, Trajectory

__all__ = [
    "DEFAULT_TEMPLATE",
    "Rendered",
    "collate",
    "render",
    "render_many",
    "render_trajectory",
    "separator_token_id",
    "step_segment",
    "task_text",
]


@dataclass(slots=True)
class Rendered:
    """Token ids of one rendered trajectory and the index of each step's separator token."""

    input_ids: list[int]
    step_positions: list[int]
    steps_start: int = 0  # index of the first step token (after the bos and the task)


def separator_token_id(tokenizer: Any, separator: str) -> int:
    """The id of ``separator``, read from the tokenizer (never a literal id).

    The separator must encode to exactly one token, or the head would be read at a position
    that depends on how the tokenizer happens to split it.
    """
    ids = tokenizer.encode(separator, add_special_tokens=False)
    if len(ids) != 1:
        raise ConfigError(
            f"step separator {separator!r} must be one token of this tokenizer, it encodes to {len(ids)}: {ids}"
        )
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is not None and ids[0] == unk:
        raise ConfigError(f"step separator {separator!r} is not in this tokenizer's vocabulary (it maps to unk)")
    return int(ids[0])


def task_text(task: str | list[dict[str, Any]]) -> str:
    """The problem as text: a string as is, chat messages as ``role: content`` lines."""
    if isinstance(task, str):
        return task
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content') or ''}" for m in task)


def step_segment(step: Step) -> str:
    """A step as text: its thought, its text (the action) and the observation it produced.

    The observation is part of the step because the head reads the separator after it: an
    action is judged with its result in view (an error message is strong evidence).
    """
    parts = [p for p in (step.thought, step.text, step.observation) if p]
    return " | ".join(parts) if parts else step.text


DEFAULT_TEMPLATE = "{task}\n"


def render(
    tokenizer: Any,
    task: str | list[dict[str, Any]],
    steps: Sequence[Step],
    separator_id: int,
    *,
    template: str = DEFAULT_TEMPLATE,
) -> Rendered:
    """Render a task and its steps; see the module docstring for the layout."""
    return render_many(tokenizer, [(task, steps)], separator_id, template=template)[0]


def render_many(
    tokenizer: Any,
    items: Sequence[tuple[str | list[dict[str, Any]], Sequence[Step]]],
    separator_id: int,
    *,
    template: str = DEFAULT_TEMPLATE,
) -> list[Rendered]:
    """:func:`render` for many ``(task, steps)`` at once: every piece of every item goes to
    the tokenizer in one batched call (per-call overhead, not the model, dominated scoring
    small models), and the pieces are assembled exactly as :func:`render` lays them out."""
    pieces: list[str] = []
    for task, steps in items:
        # str.replace, not str.format: task text may hold braces.
        pieces.append(template.replace("{task}", task_text(task)))
        pieces.extend(step_segment(s) for s in steps)
    encoded = tokenizer(pieces, add_special_tokens=False)["input_ids"] if pieces else []
    bos = getattr(tokenizer, "bos_token_id", None)
    out: list[Rendered] = []
    k = 0
    for _, steps in items:
        ids: list[int] = [int(bos)] if bos is not None else []
        ids.extend(encoded[k])
        k += 1
        start = len(ids)
        positions: list[int] = []
        for _ in steps:
            ids.extend(encoded[k])
            k += 1
            ids.append(separator_id)
            positions.append(len(ids) - 1)
        out.append(Rendered(ids, positions, start))
    return out


def render_trajectory(
    tokenizer: Any, trajectory: Trajectory, separator_id: int, *, template: str = DEFAULT_TEMPLATE
) -> Rendered:
    """:func:`render` applied to a Trajectory record."""
    return render(tokenizer, trajectory.task, trajectory.steps, separator_id, template=template)


def collate(items: Sequence[Rendered], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a batch: ``(input_ids, attention_mask)``.

    Right padding keeps every real token at its own index (a causal model never attends
    forward), so the recorded step positions stay valid in the batch.
    """
    width = max(len(r.input_ids) for r in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for i, r in enumerate(items):
        ids[i, : len(r.input_ids)] = torch.tensor(r.input_ids, dtype=torch.long)
        mask[i, : len(r.input_ids)] = 1
    return ids, mask
