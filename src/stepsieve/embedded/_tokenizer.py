"""The character-level tokenizer of the embedded models, built with ``tokenizers``.

One token per printable ASCII character plus newline, and three specials (``<pad>``,
``<eos>``, ``<unk>``). Built as a BPE model with no merges (so every character is its own
token) and a Fuse decoder (so decoding concatenates without spaces); saved as
``tokenizer.json`` + ``tokenizer_config.json`` so ``AutoTokenizer.from_pretrained`` — and a
model server such as vLLM — load it as a ``PreTrainedTokenizerFast``.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models

__all__ = ["EOS", "PAD", "SPECIALS", "UNK", "WORD_PATTERN", "build_char_tokenizer", "build_word_tokenizer"]

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


# Words, runs of digits, and single other characters; a letter word takes the space before it
# (fewer tokens), digits never do, so a number in the screen's tree and the same number in an
# action (``(412,230)`` -> ``click(412, 230)``) are one and the same token.
WORD_PATTERN = r"\d+| ?[A-Za-z]+|[\s\S]"


def build_word_tokenizer(words: list[str], max_number: int = 999):  # -> PreTrainedTokenizerFast
    """A closed-vocabulary word-level tokenizer: the specials, every printable ASCII character
    and newline, the numbers 0..``max_number`` and ``words`` (each also with a leading space).
    Decoding concatenates (Fuse), so text round-trips exactly when every word is known."""
    from tokenizers import Regex, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = ["\n"] + [chr(c) for c in range(32, 127)]
    vocab: dict[str, int] = {}
    for t in SPECIALS + chars + [str(i) for i in range(max_number + 1)]:
        vocab.setdefault(t, len(vocab))
    for w in sorted(set(words)):
        for t in (w, " " + w):
            vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)
    fast.model_max_length = 1024
    return fast
