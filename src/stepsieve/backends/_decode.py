"""The decoding loop shared by both steppers: sampling, EOS and stop strings, finished rows
leaving the batch.

A *stepper* owns the KV cache of one batch and turns one token per slot into next-token
logits: :class:`~._lean_llama.LeanStepper` (Llama family, preallocated cache, prompt KV stored
once per prompt) or :class:`HFStepper` (any causal LM, through ``transformers``' own forward).
The batch is ``prompts x width`` slots (:class:`Slots`): prompt ``u``'s samples sit in slots
``u*width ..``; a prompt with fewer samples than ``width`` pads with dead slots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from stepsieve.backends._prefix import cache_arg
from stepsieve.backends._sampler import GumbelNoise, pick_with

__all__ = ["HFStepper", "Row", "Slots", "decode"]

# Compact the batch when it would shrink to at most this fraction: dead rows cost little per
# step on small models, but each compaction copies the rows' own KV.
SHRINK = 0.75


@dataclass(slots=True)
class Row:
    """One sample row's output so far."""

    tokens: list[int] = field(default_factory=list)  # generated, EOS excluded
    logprobs: list[float] = field(default_factory=list)
    text: str | None = None  # set when a stop string cut it
    finish: str = "length"
    eos: bool = False
    done: bool = False


class Slots:
    """Which sample row sits in each batch slot (-1: padding), prompt-major."""

    def __init__(self, row_prompt: Sequence[int], prompts: int) -> None:
        members: list[list[int]] = [[] for _ in range(prompts)]
        for r, u in enumerate(row_prompt):
            members[u].append(r)
        self.prompts = prompts
        self.width = max(len(m) for m in members)
        self.row = [-1] * (prompts * self.width)
        for u, m in enumerate(members):
            self.row[u * self.width : u * self.width + len(m)] = m

    def shrink(self, done: Sequence[Row]) -> tuple[list[int], list[int] | None] | None:
        """Re-lay the live rows; returns (source slot of each new slot, kept prompts or None
        when all stay), or None when the batch would not shrink enough to be worth a copy."""
        W = self.width
        live = [[b for b in range(u * W, u * W + W) if self.row[b] >= 0 and not done[self.row[b]].done]
                for u in range(self.prompts)]
        keep = [u for u in range(self.prompts) if live[u]]
        width = max((len(live[u]) for u in keep), default=0)
        if not keep or len(keep) * width > SHRINK * len(self.row):
            return None
        src: list[int] = []
        rows: list[int] = []
        for u in keep:
            pad = width - len(live[u])
            src += live[u] + [live[u][0]] * pad
            rows += [self.row[b] for b in live[u]] + [-1] * pad
        self.row, self.width = rows, width
        kept = keep if len(keep) < self.prompts else None
        self.prompts = len(keep)
        return src, kept


class HFStepper:
    """Any causal LM through ``transformers``' forward and its ``DynamicCache`` (the fallback)."""

    def __init__(self, lm, cache, prompt_mask: torch.Tensor, next_pos: torch.Tensor, width: int) -> None:
        idx = torch.arange(prompt_mask.shape[0], device=prompt_mask.device).repeat_interleave(width)
        cache.batch_select_indices(idx)  # one physical copy of the prompt's KV per slot
        self.lm, self.cache = lm, cache
        self._cache_arg = cache_arg(lm)
        self.mask, self.pos = prompt_mask[idx], next_pos[idx]

    def select(self, slots: torch.Tensor, prompts: torch.Tensor | None, width: int) -> None:
        self.cache.batch_select_indices(slots)
        self.mask, self.pos = self.mask[slots], self.pos[slots]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        self.mask = torch.cat([self.mask, torch.ones_like(self.mask[:, :1])], dim=1)
        out = self.lm(input_ids=tokens[:, None].to(self.mask.device), attention_mask=self.mask,
                      position_ids=self.pos[:, None], use_cache=True, **{self._cache_arg: self.cache})
        self.pos = self.pos + 1  # the cache grew in place
        return out.logits[:, -1].float()


@dataclass
class DecodeStats:
    forward_tokens: int = 0  # live rows fed
    forward_positions: int = 0  # slots fed, dead and padding included


def decode(
    stepper, slots: Slots, logits: torch.Tensor, rows: int, *, max_tokens: int, temperature: float,
    row_seeds: Sequence[int], eos_id: int | None, want_logprobs: bool, stop: Sequence[str],
    stop_check: Sequence[bool], detok: Callable[[list[int]], str],
) -> tuple[list[Row], DecodeStats]:
    """Sample up to ``max_tokens`` per row from ``logits`` (the prefill's, one per slot).

    EOS ends a row ("stop"; counted and given a logprob but not part of the text); a stop
    string ends it with the text cut before the stop. ``stop_check[t]``: whether token ``t``
    can complete a stop string -- the only rows that pay the detokenising check.
    """
    out = [Row() for _ in range(rows)]
    stats = DecodeStats()
    seeds_all = torch.tensor(list(row_seeds) or [0], dtype=torch.int64)
    noise = GumbelNoise(seeds_all[torch.tensor([max(r, 0) for r in slots.row])], logits.shape[-1], max_tokens)
    tail = max((len(s) for s in stop), default=0) + 2
    for step in range(max_tokens):
        if temperature == 0.0:
            chosen = logits.argmax(dim=-1).cpu()
        else:
            chosen = pick_with(logits, noise.at(step), temperature)
        if want_logprobs:
            lp = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None].to(logits.device))[:, 0].tolist()
        live = 0
        for b, (r, t) in enumerate(zip(slots.row, chosen.tolist())):
            if r < 0 or out[r].done:
                continue
            row = out[r]
            if want_logprobs:
                row.logprobs.append(lp[b])
            if t == eos_id:
                row.finish, row.eos, row.done = "stop", True, True
                continue
            row.tokens.append(t)
            if stop and stop_check[t] and any(s in detok(row.tokens[-tail:]) for s in stop):
                full = detok(row.tokens)
                cut = min((full.find(s) for s in stop if s in full), default=-1)
                if cut >= 0:
                    row.text, row.finish, row.done = full[:cut], "stop", True
                    continue
            live += 1
        if not live or step + 1 == max_tokens:
            break
        plan = slots.shrink(out)
        if plan is not None:
            src = torch.tensor(plan[0])
            dev = src.to(logits.device)
            kept = None if plan[1] is None else torch.tensor(plan[1], device=dev.device)
            stepper.select(dev, kept, slots.width)
            chosen = chosen[src]
            if temperature != 0.0:
                noise.select(src)
        logits = stepper.step(chosen)
        stats.forward_tokens += live
        stats.forward_positions += len(slots.row)
    return out, stats
