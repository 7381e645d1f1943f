"""Per-step features from the backbone's own language model, for the ``policy`` head.

A StepRM initialised from the policy that wrote the steps can ask the policy how surprised it
is by each step: with sampling, a wrong step is very often a token the policy itself did not
rank first (an off-by-one digit, the wrong operand). The features are read from the same
forward pass that gives the separator's hidden state (the LM head is the input embeddings when
the base ties them, else the base's own frozen ``lm_head``), so scoring stays one pass per trajectory.

Per step ``j`` (its tokens run from after the previous separator to its own separator,
inclusive), with ``lp`` = log P(token | prefix) and ``gap`` = lp − max log P at that position:

0. min lp     1. mean lp     2. lp of the separator (did the policy expect the line to end?)
3. min gap    4. share of tokens that were not the policy's first choice
5. running min of (0) over steps <= j     6. running min of (3)     7. j / 8 (position)

Log-probabilities are clipped at −20 and divided by 5 so the MLP sees values of order one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["N_POLICY_FEATURES", "policy_features"]

N_POLICY_FEATURES = 8
_CLIP = -20.0
_SCALE = 5.0


def policy_features(
    hidden: torch.Tensor, lm_head: torch.Tensor, ids: torch.Tensor, batch: Sequence, width: int
) -> torch.Tensor:
    """``[batch, width, N_POLICY_FEATURES]`` for rendered trajectories ``batch`` (steps padded to ``width``).

    ``hidden`` is the backbone's final (normed) hidden state and ``lm_head`` the ``[vocab, hidden]``
    output projection, so ``hidden @ lm_head.T`` are the base's own next-token logits.
    """
    b, t = ids.shape
    logp = torch.log_softmax(hidden[:, :-1] @ lm_head.T, dim=-1)  # predicts tokens 1..t-1
    lp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1).clamp(min=_CLIP)
    gap = (lp - logp.max(-1).values.clamp(min=_CLIP)).clamp(max=0.0)
    # Segment id of every predicted token: step j's tokens -> j, others -> width (a dump slot).
    seg = torch.full((b, t), width, dtype=torch.long)
    for i, r in enumerate(batch):
        prev = r.steps_start
        for j, p in enumerate(r.step_positions):
            seg[i, prev : p + 1] = j
            prev = p + 1
    seg = seg[:, 1:].to(ids.device)
    flat = (seg + torch.arange(b, device=ids.device)[:, None] * (width + 1)).reshape(-1)
    n = b * (width + 1)

    def reduce(src: torch.Tensor, how: str) -> torch.Tensor:
        init = 0.0 if how == "sum" else float("inf")
        out = torch.full((n,), init, dtype=src.dtype, device=src.device)
        out = out.scatter_reduce(0, flat, src.reshape(-1), reduce=how, include_self=True)
        return out.view(b, width + 1)[:, :width]

    count = reduce(torch.ones_like(lp), "sum").clamp(min=1.0)
    min_lp = reduce(lp, "amin").clamp(min=_CLIP, max=0.0)
    mean_lp = reduce(lp, "sum") / count
    min_gap = reduce(gap, "amin").clamp(min=_CLIP, max=0.0)
    off = reduce((gap < 0).to(lp.dtype), "sum") / count
    pos = torch.zeros((b, width), dtype=torch.long, device=ids.device)
    for i, r in enumerate(batch):
        pos[i, : len(r.step_positions)] = torch.tensor(r.step_positions, dtype=torch.long) - 1
    sep_lp = lp.gather(1, pos.clamp(min=0))
    index = torch.arange(width, device=ids.device, dtype=lp.dtype).expand(b, width) / 8.0
    feats = torch.stack([
        min_lp / _SCALE, mean_lp / _SCALE, sep_lp / _SCALE, min_gap / _SCALE, off,
        torch.cummin(min_lp, dim=1).values / _SCALE, torch.cummin(min_gap, dim=1).values / _SCALE, index,
    ], dim=-1)
    return feats
