"""The character-level tokenizer of the embedded models, built with ``tokenizers``.

One token per printable ASCII character plus newline, and three specials (``<pad>``,
``<eos>``, ``<unk>``). Built as a BPE model with no merges (so every character is its own
token) and a Fuse decoder (so decoding concatenates without spaces); saved as
``tokenizer.json`` + ``tokenizer_config.json`` so ``AutoTokenizer.from_pretrained`` — and a
model server such as vLLM — load it as a ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models

__all__ = ["EOS", "PAD", "SPECIALS", "UNK", "build_char_tokenizer"]

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
SPECIALS = [PAD, EOS, UNK]


def build_char_tokenizer():  # -> transformers.PreTrainedTokenizerFast
    """A fresh character-level tokenizer (ids are fixed: specials, newline, then ASCII 32..126)."""
    from transformers import PreTrainedTokenizerFast

    chars = ["\n"] + [chr(c) for c in range(32, 127)]
    vocab = {tok: i for i, tok in enumerate(SPECIALS + chars)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)
    fast.model_max_length = 1024
    return fast
