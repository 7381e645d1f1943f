"""Seeded, batch-independent token sampling and the stop-string candidate table.

Why counter-based noise: sample ``j`` of a prompt must not depend on which other rows share the
batch (the protocol's determinism contract), yet one ``torch.Generator`` per row per step is a
Python loop. Noise that is a pure function of (row seed, step, token id) gives both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import torch

__all__ = ["GumbelNoise", "pick", "pick_with", "sample_seed", "signed", "stop_candidates", "token_pieces"]

_MASK64 = (1 << 64) - 1


def sample_seed(seed: int, prompt: str, sample: int) -> int:
    """The random seed of sample ``sample`` of ``prompt``: independent of batch composition."""
    h = hashlib.sha256(f"{seed}\x00{sample}\x00{prompt}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**63 - 1)


def signed(u: int) -> int:
    """A 64-bit pattern as torch's int64 (which wraps on overflow, like C)."""
    u &= _MASK64
    return u - (1 << 64) if u >= 1 << 63 else u


_M1, _M2 = signed(0xBF58476D1CE4E5B9), signed(0x94D049BB133111EB)


def _srl(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift on int64 (torch's ``>>`` is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


@lru_cache(maxsize=8)
def _token_offsets(vocab: int) -> torch.Tensor:
    """``token_id * M2`` for every token: the per-token half of the counter, computed once."""
    return torch.arange(vocab, dtype=torch.int64)[None, :] * _M2


def _finalise(x: torch.Tensor) -> torch.Tensor:
    """splitmix64's finaliser, then the top 53 bits as a double in (0, 1)."""
    x = (x ^ _srl(x, 30)) * _M1
    x = (x ^ _srl(x, 27)) * _M2
    x = x ^ _srl(x, 31)
    return (_srl(x, 11).double() + 0.5) * 2.0**-53


def _step_offset(step: int) -> int:
    return signed((step + 1) * 0x9E3779B97F4A7C15)  # python ints: wrap explicitly


def uniform(seeds: torch.Tensor, step: int, vocab: int) -> torch.Tensor:
    """Uniforms in (0, 1), [rows, vocab], a pure function of (row seed, step, token id).

    splitmix64's finaliser over the counter: every row draws its noise in one vectorised op.
    """
    return _finalise((seeds[:, None] + _step_offset(step)) + _token_offsets(vocab))


def pick(logits: torch.Tensor, seeds: torch.Tensor, step: int, temperature: float) -> torch.Tensor:
    """Greedy, or a sample from softmax(logits / T) by the Gumbel-max trick; on the CPU."""
    if temperature == 0.0:
        return logits.argmax(dim=-1).cpu()
    return pick_with(logits, -torch.log(-torch.log(uniform(seeds, step, logits.shape[-1]))), temperature)


def pick_with(logits: torch.Tensor, gumbel: torch.Tensor, temperature: float) -> torch.Tensor:
    """Gumbel-max with precomputed noise [rows, vocab]."""
    scaled = logits.double().cpu()
    if temperature != 1.0:  # x / 1.0 == x exactly: skipping it changes no draw
        scaled = scaled / temperature
    return (scaled + gumbel).argmax(dim=-1)


class GumbelNoise:
    """The Gumbel noise of :func:`pick` for a block of steps at once, bit for bit the same.

    Why: the counter hash is ~15 small tensor ops; on small models that is a tenth of a decode
    step. Drawing many steps' noise in one pass (int64 addition wraps, so the sum's order does
    not matter) makes each step a slice. Blocks hold at most ``budget`` numbers.
    """

    def __init__(self, seeds: torch.Tensor, vocab: int, steps: int, budget: int = 1 << 21) -> None:
        self.seeds, self.vocab, self.steps = seeds, vocab, steps
        # at most 16 steps ahead: rows often stop long before max_tokens
        self.block = max(1, min(steps, 16, budget // max(1, len(seeds) * vocab)))
        self.start = 0
        self.noise: torch.Tensor | None = None

    def at(self, step: int) -> torch.Tensor:
        """Noise of ``step`` for the current rows, [rows, vocab]."""
        if self.noise is None or not self.start <= step < self.start + self.noise.shape[1]:
            k = min(self.block, self.steps - step)
            offsets = torch.tensor([_step_offset(s) for s in range(step, step + k)], dtype=torch.int64)
            x = (self.seeds[:, None, None] + offsets[None, :, None]) + _token_offsets(self.vocab)[:, None, :]
            self.start, self.noise = step, -torch.log(-torch.log(_finalise(x)))
        return self.noise[:, step - self.start]

    def select(self, rows: torch.Tensor) -> None:
        """Keep ``rows`` (the batch was compacted)."""
        self.seeds = self.seeds[rows]
        if self.noise is not None:
            self.noise = self.noise[rows]


def token_pieces(tokenizer, vocab: int) -> list[str | None]:
    """The text each token adds after an ordinary token (None: unknown, always check).

    Decoding in context keeps the leading space that SentencePiece drops at the start of a
    text. A piece with U+FFFD (part of a multi-byte character) is unknown: the character it
    completes may be anything.
    """
    anchor = tokenizer("a", add_special_tokens=False)["input_ids"]
    known = min(vocab, len(tokenizer))
    pieces: list[str | None] = [None] * vocab
    if len(anchor) != 1:
        return pieces
    head = tokenizer.decode(anchor, skip_special_tokens=True)
    texts = tokenizer.batch_decode([[anchor[0], t] for t in range(known)], skip_special_tokens=True)
    for t, s in enumerate(texts):
        if s.startswith(head) and "\ufffd" not in s:
            pieces[t] = s[len(head) :]
    return pieces


def stop_candidates(pieces: Sequence[str | None], stop: Sequence[str]) -> list[bool]:
    """Per token id: can emitting it complete one of ``stop``?

    A stop string newly appears in the text only when the text grows by its last character,
    so rows whose new token adds none of the stops' last characters skip the (per-row
    detokenising) stop check. Empty or unknown pieces are always checked.
    """
    last = {s[-1] for s in stop if s}
    return [p is None or p == "" or any(c in p for c in last) for p in pieces]
