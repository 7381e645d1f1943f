"""A lean one-token decoding step for Llama-family models over a two-segment KV cache.

Why not ``model(...)`` per token: on small models a ``transformers`` forward is mostly fixed
cost (module calls, mask building, a ``DynamicCache`` that grows by ``torch.cat`` every step),
several milliseconds per token whatever the batch, which hides what prefix reuse saves. This
step does the same arithmetic as ``LlamaForCausalLM`` (same weights, rotary tables computed by
the model's own rotary module) in about 40 tensor ops per layer, writing keys and values into
preallocated tensors.

KV layout. The batch has ``U`` prompts times ``W`` slots (sample rows) each; slot ``b`` belongs
to prompt ``b // W``. Two segments:

* prompt segment ``[U, kv_heads, Lp, head_dim]``: each prompt's prefill cache, stored once and
  read by all of its slots -- the N rollouts of a prompt share one copy; their queries are
  stacked so one matmul per prompt covers them all (``[W*g, d] @ [d, Lp]``);
* own segment ``[U*W, kv_heads, capacity, head_dim]``: the tokens each slot generated,
  preallocated and grown by doubling.

Softmax runs over the concatenation of both segments' scores, so the result is attention over
``prompt + own`` exactly as if the cache were one tensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["LeanLlama", "LeanStepper", "lean_unsupported"]

_FAMILY = {"llama", "mistral", "qwen2"}
_STATIC_ROPE = {"default", "linear", "llama3", "yarn"}  # tables that do not depend on length


def lean_unsupported(lm, max_len: int) -> str | None:
    """Why the lean step cannot run this model for sequences of ``max_len`` (None: it can)."""
    cfg = lm.config
    if getattr(cfg, "model_type", None) not in _FAMILY:
        return f"model_type {getattr(cfg, 'model_type', None)!r}"
    if getattr(cfg, "hidden_act", "silu") != "silu":
        return f"hidden_act {cfg.hidden_act!r}"
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") not in _STATIC_ROPE:
        return f"rope_type {rope.get('rope_type')!r}"
    window = getattr(cfg, "sliding_window", None)
    if window and getattr(cfg, "use_sliding_window", True) and max_len > window:
        return f"sliding window {window} < {max_len} tokens"
    attn = lm.model.layers[0].self_attn
    if hasattr(attn, "q_norm") or not all(hasattr(attn, a) for a in ("q_proj", "k_proj", "v_proj", "o_proj")):
        return "attention module is not Llama-shaped"
    return None


class LeanLlama:
    """A Llama-family model's weights arranged for :class:`LeanStepper`.

    q/k/v and gate/up are fused; each RMSNorm's weight is folded into the matrix it feeds
    (``(w * x) @ W == x @ (diag(w) W)``) and the softmax scale into the query weights (rotary
    is linear), so neither costs an op per step. Matrices are stored transposed and
    contiguous, ``[in, out]``: ``torch.mm`` on them is 1.1-4x faster than ``F.linear`` at decode
    sizes on CPU (measured). The cost: one extra copy of the linear weights in memory.
    """

    def __init__(self, lm) -> None:
        cfg, base = lm.config, lm.model
        attn0 = base.layers[0].self_attn
        self.lm = lm
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = attn0.head_dim
        self.eps = base.norm.variance_epsilon
        self.hidden = (cfg.hidden_size,)
        self.embed = base.embed_tokens.weight
        self.layers = []
        s = attn0.scaling
        with torch.no_grad():
            for layer in base.layers:
                a, m = layer.self_attn, layer.mlp
                ln1 = layer.input_layernorm.weight[:, None]
                ln2 = layer.post_attention_layernorm.weight[:, None]
                qkv_bias = gate_up_bias = None
                if a.q_proj.bias is not None:
                    qkv_bias = torch.cat([a.q_proj.bias * s, a.k_proj.bias, a.v_proj.bias])
                if m.gate_proj.bias is not None:
                    gate_up_bias = torch.cat([m.gate_proj.bias, m.up_proj.bias])
                wqkv = torch.cat([a.q_proj.weight * s, a.k_proj.weight, a.v_proj.weight])
                self.layers.append((
                    (ln1 * wqkv.t()).contiguous(), qkv_bias,
                    a.o_proj.weight.t().contiguous(), a.o_proj.bias,
                    (ln2 * torch.cat([m.gate_proj.weight, m.up_proj.weight]).t()).contiguous(), gate_up_bias,
                    m.down_proj.weight.t().contiguous(), m.down_proj.bias,
                ))
            self.head = (base.norm.weight[:, None] * lm.lm_head.weight.t()).contiguous()
        self._cos: torch.Tensor | None = None
        self._sin: torch.Tensor | None = None

    def rope(self, positions: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sign-folded sin tables [positions, head_dim], from the model's rotary module.

        ``rotate_half(x) * sin == roll(x, d/2) * cat(-sin1, sin2)`` exactly (a sign flip is
        exact), which saves the slice/negate/cat of ``rotate_half`` every layer.
        """
        if self._cos is None or self._cos.shape[0] < positions:
            n = max(positions, 2 * (0 if self._cos is None else self._cos.shape[0]), 256)
            rot = self.lm.model.rotary_emb
            dummy = torch.zeros(1, device=self.embed.device, dtype=self.embed.dtype)
            pos = torch.arange(n, device=self.embed.device)[None, :]
            with torch.inference_mode():
                cos, sin = rot(dummy, position_ids=pos)
            half = self.head_dim // 2
            self._cos = cos[0]
            self._sin = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
        assert self._sin is not None  # set together with _cos
        return self._cos, self._sin


def _rms(x: torch.Tensor, eps: float) -> torch.Tensor:
    # RMSNorm without its weight (folded into the next matrix). vector_norm is one reduction
    # kernel, ~3x cheaper than pow+mean on CPU at decode sizes (measured).
    ms = torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(x.shape[-1]).add_(eps)
    return x * ms.rsqrt_()


def _mm(x: torch.Tensor, w_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.mm(x, w_t) if bias is None else torch.addmm(bias, x, w_t)


class LeanStepper:
    """Decoding state for one batch: feeds one token per slot, returns next-token logits.

    Attention runs on 3-d ``bmm`` operands in ``(prompt, kv head, slot)`` order: the prompt
    segment as ``[U*kv, d, Lp]`` (keys, transposed) / ``[U*kv, Lp, d]`` (values) with the W
    slots' queries stacked ``[U*kv, W*g, d]``; the own segment as one ``[U*kv*W, cap, 2d]``
    tensor per layer (key | value side by side, so one copy stores both) with queries
    ``[U*kv*W, g, d]``, the same memory viewed twice.
    """

    def __init__(self, model: LeanLlama, cache, prompt_mask: torch.Tensor, next_pos: torch.Tensor,
                 width: int, capacity: int) -> None:
        self.m = model
        self._set_prompt([layer.keys for layer in cache.layers], [layer.values for layer in cache.layers])
        self.bias = None  # additive mask over prompt columns; None when nothing is padded
        if not bool(prompt_mask.all()):
            neg = torch.finfo(self.kp[0].dtype).min
            zero = torch.zeros((), dtype=self.kp[0].dtype, device=prompt_mask.device)
            self.bias = torch.where(prompt_mask.bool(), zero, neg)[:, None, None, :]  # [U, 1, 1, Lp]
        self.prompts, self.width = prompt_mask.shape[0], width
        self.pos = next_pos.repeat_interleave(width)  # [U*W] position of the next token
        self.pos_hi = int(next_pos.max())  # an upper bound on pos, kept on the host (no sync)
        rows, d = self.prompts * model.kv_heads * width, model.head_dim
        self.own = [self.kp[0].new_empty(rows, capacity, 2 * d) for _ in self.kp]
        self.t = 0  # own-segment columns filled

    def _set_prompt(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> None:
        self.kp, self.vp = keys, values  # [U, kv, Lp, d]
        self.kp_t = [k.transpose(-1, -2).flatten(0, 1) for k in keys]  # views [U*kv, d, Lp]
        self.vp3 = [v.flatten(0, 1) for v in values]

    def select(self, slots: torch.Tensor, prompts: torch.Tensor | None, width: int) -> None:
        """Keep ``slots`` (in this order) and, if given, only ``prompts`` of the prompt segment."""
        U0, W0, kv = self.prompts, self.width, self.m.kv_heads
        U = U0 if prompts is None else len(prompts)
        cols = max(self.t, 1)

        def pick(own: torch.Tensor) -> torch.Tensor:  # [U0*kv*W0, a, b] -> [U*kv*width, a, b]
            tail = own.shape[1:]
            by_slot = own.view(U0, kv, W0, *tail).transpose(1, 2).reshape(U0 * W0, kv, *tail)
            kept = by_slot.index_select(0, slots).view(U, width, kv, *tail).transpose(1, 2)
            return kept.reshape(U * kv * width, *tail)

        self.own = [pick(o[:, :cols]) for o in self.own]
        self.pos = self.pos.index_select(0, slots)
        if prompts is not None:
            self._set_prompt([k.index_select(0, prompts) for k in self.kp],
                             [v.index_select(0, prompts) for v in self.vp])
            if self.bias is not None:
                self.bias = self.bias.index_select(0, prompts)
        self.prompts, self.width = U, width

    def _grow(self) -> None:
        self.own = [torch.cat([o, torch.empty_like(o)], dim=1) for o in self.own]

    def _attend(self, i: int, q: torch.Tensor, T: int) -> torch.Tensor:
        """Attention of (pre-scaled) q [U, kv, W, g, d] over prompt segment + own columns < T;
        returns [U*kv*W, g, d]."""
        U, kv, W, g, d = q.shape
        lp = self.kp[i].shape[2]
        qp = q.reshape(U * kv, W * g, d)  # the W rollouts of a prompt share one product
        sp = torch.bmm(qp, self.kp_t[i])
        if self.bias is not None:
            sp = (sp.view(U, kv, W * g, lp) + self.bias).view(U * kv, W * g, lp)
        own = self.own[i][:, :T]
        so = torch.bmm(qp.reshape(U * kv * W, g, d), own[:, :, :d].transpose(1, 2))
        p = torch.cat([sp.view(U * kv * W, g, lp), so], dim=-1)
        if p.dtype == torch.float32:
            p = p.softmax(dim=-1)
        else:
            p = p.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.bmm(p[:, :, :lp].view(U * kv, W * g, lp), self.vp3[i]).view(U * kv * W, g, d)
        return torch.baddbmm(out, p[:, :, lp:], own[:, :, d:])

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed ``tokens`` [B] (one per slot) at each slot's next position; logits [B, vocab]."""
        m = self.m
        if self.t == self.own[0].shape[1]:
            self._grow()
        U, W = self.prompts, self.width
        B, H, kv, d = U * W, m.heads, m.kv_heads, m.head_dim
        cos_t, sin_t = m.rope(self.pos_hi + 1)
        cos, sin = cos_t[self.pos][:, None, :], sin_t[self.pos][:, None, :]
        x = F.embedding(tokens.to(self.pos.device), m.embed)
        t, T = self.t, self.t + 1
        for i, (wqkv, bqkv, wo, bo, wgu, bgu, wdown, bdown) in enumerate(m.layers):
            qkv = _mm(_rms(x, m.eps), wqkv, bqkv)
            qk = qkv[:, : (H + kv) * d].view(B, H + kv, d)
            torch.addcmul(qk * cos, qk.roll(d // 2, dims=-1), sin, out=qk)  # rotary, in place
            # this token's key and value, one copy: [U, W, 2, kv, d] -> own[(U, kv, W), t, (2, d)]
            new_kv = qkv[:, H * d :].view(U, W, 2, kv, d).permute(0, 3, 1, 2, 4)
            self.own[i].view(U, kv, W, -1, 2, d)[:, :, :, t] = new_kv
            q = qk[:, :H].view(U, W, kv, H // kv, d).transpose(1, 2)
            a = self._attend(i, q, T).view(U, kv, W, H // kv * d).transpose(1, 2).reshape(B, H * d)
            x = torch.addmm(x, a, wo) if bo is None else torch.addmm(x + bo, a, wo)
            gate, up = _mm(_rms(x, m.eps), wgu, bgu).chunk(2, dim=-1)
            h = F.silu(gate) * up
            x = torch.addmm(x, h, wdown) if bdown is None else torch.addmm(x + bdown, h, wdown)
        self.t = T
        self.pos = self.pos + 1
        self.pos_hi += 1
        return torch.mm(_rms(x, m.eps), m.head).float()
