"""Shared-prefix prefill: encode each shared prefix once and reuse its KV cache.

Why: Monte Carlo grading samples N rollouts from one prefix, and the prefixes of one
trajectory are prefixes of each other. Encoding the shared part once and copying its keys and
values to every row that continues it replaces N forward passes over the prefix by one.

Layout of one row of the KV cache after :func:`prefill` (columns are cache positions)::

    [ pad .. pad | shared prefix of its group | pad .. pad | its own suffix ]

Padding sits in the middle, so every row's last real token is in the last column and decoding
appends columns to all rows at once. Pads are masked out; position ids are explicit and count
real tokens only, so a row computes exactly what it would have computed alone.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

__all__ = ["Prefilled", "cache_arg", "group_by_prefix", "prefill"]


@dataclass
class Prefilled:
    """KV cache and bookkeeping for a batch of sequences, one row each, ready to decode."""

    cache: object  # a transformers DynamicCache with one row per sequence
    mask: torch.Tensor  # [rows, columns] 1 on real tokens
    next_pos: torch.Tensor  # [rows] position id of the next token
    logits: list[torch.Tensor]  # per row: logits at positions need_from..len-1, [k, vocab]
    forward_tokens: int  # real (non-pad) tokens encoded
    forward_positions: int  # positions computed, padding included


def _lcp(a: list[int], b: list[int], limit: int) -> int:
    n = min(len(a), len(b), limit)
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def group_by_prefix(seqs: list[list[int]], need_from: list[int], min_shared: int) -> list[tuple[int, list[int]]]:
    """Groups of sequence indices with the length of the prefix they all share.

    Sorting puts sequences with long common prefixes next to each other; a group grows while
    its common prefix stays at least ``min_shared`` tokens. The shared prefix never reaches a
    position whose logits are needed (``need_from``), so those stay in the per-row suffix.
    """
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    groups: list[tuple[int, list[int]]] = []
    for i in order:
        if groups:
            shared, members = groups[-1]
            head = seqs[members[0]]
            common = _lcp(head, seqs[i], min(shared, need_from[i]))
            if common >= min_shared:
                groups[-1] = (common, [*members, i])
                continue
        groups.append((need_from[i], [i]))
    return groups


_CACHE_ARG: dict[type, str] = {}


def cache_arg(model) -> str:
    """The name under which ``model``'s forward takes its KV cache.

    transformers 5.x renamed ``past_key_values`` to ``cache`` (the old name warns and will be
    removed); older releases only know ``past_key_values``, and would put an unknown ``cache=``
    into ``**kwargs`` and silently ignore it, so the name is read from the signature.
    """
    kind = type(model)
    if kind not in _CACHE_ARG:
        params = inspect.signature(model.forward).parameters
        _CACHE_ARG[kind] = "cache" if "cache" in params else "past_key_values"
    return _CACHE_ARG[kind]


def _forward(model, ids, mask, positions, cache, logits_to_keep) -> torch.Tensor:
    # The cache is filled in place (``Cache.update``), so the caller keeps its own object and
    # never reads it back from the output.
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=logits_to_keep,
        **{cache_arg(model): cache},
    )
    return out.logits


@torch.inference_mode()
def prefill(
    model,
    seqs: list[list[int]],
    need_from: list[int],
    *,
    pad_id: int,
    reuse: bool = True,
    min_shared: int = 8,
    last_only: bool = False,
) -> Prefilled:
    """Encode ``seqs`` and return their cache plus the logits from ``need_from[i]`` on.

    With ``reuse`` each group's shared prefix is encoded once (one batched forward over the
    group prefixes), then every row's suffix in a second batched forward on top of it. Without
    it every sequence is encoded whole, as a plain left-padded batch. ``last_only`` keeps only
    the last position's logits (generation), which saves memory for large vocabularies.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    rows = len(seqs)
    groups = group_by_prefix(seqs, need_from, min_shared) if reuse else []
    if all(len(members) == 1 for _, members in groups):
        # Nothing is shared: one forward over whole sequences, not a prefix pass and a suffix pass.
        groups = [(0, [i]) for i in range(rows)]
    shared_len = [0] * rows
    group_of = [0] * rows
    for g, (shared, members) in enumerate(groups):
        for i in members:
            shared_len[i] = shared
            group_of[i] = g
    cache = DynamicCache(config=model.config)
    fwd_tokens = fwd_positions = 0

    # Stage 1: every group's shared prefix, once, left-padded.
    pmax = max(s for s, _ in groups)
    if pmax > 0:
        pre_ids = torch.full((len(groups), pmax), pad_id, dtype=torch.long)
        pre_mask = torch.zeros((len(groups), pmax), dtype=torch.long)
        for g, (shared, members) in enumerate(groups):
            if shared:
                pre_ids[g, pmax - shared :] = torch.tensor(seqs[members[0]][:shared])
                pre_mask[g, pmax - shared :] = 1
        pos = (pre_mask.cumsum(1) - 1).clamp(min=0)
        _forward(model, pre_ids.to(device), pre_mask.to(device), pos.to(device), cache, 1)
        fwd_tokens += sum(s for s, _ in groups)
        fwd_positions += len(groups) * pmax
        cache.batch_select_indices(torch.tensor(group_of, device=device))
        mask_pre = pre_mask[group_of]
    else:
        mask_pre = torch.zeros((rows, 0), dtype=torch.long)

    # Stage 2: each row's own suffix on top of its group's prefix, padded in the middle.
    suffix = [seqs[i][shared_len[i] :] for i in range(rows)]
    smax = max(len(s) for s in suffix)
    suf_ids = torch.full((rows, smax), pad_id, dtype=torch.long)
    suf_mask = torch.zeros((rows, smax), dtype=torch.long)
    suf_pos = torch.zeros((rows, smax), dtype=torch.long)
    for i, s in enumerate(suffix):
        k = len(s)
        if k:
            suf_ids[i, smax - k :] = torch.tensor(s)
            suf_mask[i, smax - k :] = 1
            suf_pos[i, smax - k :] = torch.arange(shared_len[i], shared_len[i] + k)
    mask = torch.cat([mask_pre, suf_mask], dim=1)
    keep = 1 if last_only else smax
    logits = _forward(model, suf_ids.to(device), mask.to(device), suf_pos.to(device), cache, keep)
    fwd_tokens += sum(len(s) for s in suffix)
    fwd_positions += rows * smax

    per_row: list[torch.Tensor] = []
    for i in range(rows):
        if last_only:
            per_row.append(logits[i, -1:].float())
        else:
            want = len(seqs[i]) - need_from[i]  # positions need_from..len-1 sit at the end
            per_row.append(logits[i, smax - want :].float())
    next_pos = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    return Prefilled(cache, mask.to(device), next_pos.to(device), per_row, fwd_tokens, fwd_positions)
