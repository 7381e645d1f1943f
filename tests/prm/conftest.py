"""A tiny randomly initialised Llama with a character tokenizer, built once per session.

Stands in for the embedded policy as a StepRM base: the same code path (AutoModel,
AutoTokenizer from a directory), a few thousand parameters, milliseconds per pass on CPU.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest

from stepsieve.trajectory import Label, Step, Trajectory

CHARS = "\n " + string.digits + string.ascii_letters + "+-*/=().,?:;'|<>!"


def build_tiny_base(directory: Path, *, hidden: int = 32, layers: int = 2, tie: bool = False) -> Path:
    from tokenizers import Tokenizer, decoders, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for c in CHARS:
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    import torch

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
        pad_token_id=0, bos_token_id=2, eos_token_id=3, tie_word_embeddings=tie,
    )
    LlamaForCausalLM(cfg).save_pretrained(str(directory))
    fast.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_base(tmp_path_factory.mktemp("tiny_base"))


@pytest.fixture(scope="session")
def tiny_tied_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like the embedded policy: input and output embeddings tied (the ``policy`` head needs it)."""
    return build_tiny_base(tmp_path_factory.mktemp("tiny_tied_base"), tie=True)


def labelled(tid: str, task: str, steps: list[str], first_error: int, label: str = "mc",
             soft: list[float] | None = None) -> Trajectory:
    """A trajectory whose ``label`` marks steps before ``first_error`` correct, that one incorrect."""
    out = []
    for i, text in enumerate(steps):
        verdict = None
        if first_error == -1 or i < first_error:
            verdict = "correct"
        elif i == first_error:
            verdict = "incorrect"
        score = soft[i] if soft is not None else None
        out.append(Step(i, text, labels={label: Label(score=score, verdict=verdict)}))
    return Trajectory(tid, task, out)
