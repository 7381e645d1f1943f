"""A tiny randomly initialised Llama with a character-level tokenizer, written to a directory.

Why it exists: the backend tests and benchmarks need a model that both ``transformers`` and an
OpenAI-compatible server (vLLM) load from disk, of the same kind as the embedded policy
(LlamaForCausalLM, char tokenizer built with ``tokenizers``), before that policy is trained and
on machines where nothing may be downloaded. Weights are safetensors; nothing is pickled.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

__all__ = ["CHARSET", "build_tiny_llama", "build_tiny_qwen2_prm", "build_tiny_qwen2_vl", "embedded_policy_dir",
           "qwen2_vl_processor"]

# Printable ASCII plus newline: enough for arithmetic word problems and chat-free prompts.
CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n"
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]


def embedded_policy_dir() -> Path | None:
    """The embedded policy's directory if it has been trained and committed, else None."""
    d = Path(__file__).resolve().parent.parent / "embedded" / "policy"
    if (d / "config.json").is_file() and any(d.glob("*.safetensors")) and (d / "tokenizer.json").is_file():
        return d
    return None


def _write_tokenizer(out: Path, extra_specials: tuple[str, ...] = (), chat_template: str | None = None) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = {tok: i for i, tok in enumerate(SPECIALS + list(CHARSET) + list(extra_specials))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # One token per character; Fuse joins them back without spaces when decoding.
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    tok.add_special_tokens(SPECIALS + list(extra_specials))
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": 1024,
        "clean_up_tokenization_spaces": False,
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    (out / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"})
    )


def build_tiny_llama(
    out: str | Path,
    *,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    intermediate_size: int = 256,
    max_positions: int = 1024,
    init_std: float = 0.2,
    seed: int = 0,
) -> Path:
    """Write a random LlamaForCausalLM (safetensors) and its char tokenizer to ``out``.

    ``init_std`` is large on purpose: peaked next-token distributions make greedy decoding
    free of near-ties, so two correct implementations agree token for token.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(out)
    vocab_size = len(SPECIALS) + len(CHARSET)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        initializer_range=init_std,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    return out


def build_tiny_qwen2_prm(
    out: str | Path,
    *,
    step_tag: str = "<extra_0>",
    chat_template: str | None = None,
    hidden_size: int = 128,  # head size 32: vLLM's CPU attention has no kernel for 16
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
) -> tuple[Path, int]:
    """Write a random ``Qwen2ForProcessRewardModel`` (the architecture of Qwen2.5-Math-PRM, as
    vLLM serves it: a Qwen2 body and a two-class ``score`` head, Linear-ReLU-Linear) with a char
    tokenizer that has ``step_tag`` as one special token. Returns (directory, step tag's id).

    transformers has no class for this architecture (the published model ships remote code), so
    the weights are a random Qwen2 body plus the head's four tensors, named as the checkpoint
    names them, in safetensors."""
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen2Config, Qwen2Model

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(out, (step_tag,), chat_template)
    vocab_size = len(SPECIALS) + len(CHARSET) + 1
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=False,
        dtype="float32",
    )
    torch.manual_seed(seed)
    body = Qwen2Model(config)
    tensors = {f"model.{k}": v.contiguous() for k, v in body.state_dict().items()}
    g = torch.Generator().manual_seed(seed + 1)
    tensors["score.0.weight"] = torch.randn(hidden_size, hidden_size, generator=g) * 0.2
    tensors["score.0.bias"] = torch.zeros(hidden_size)
    tensors["score.2.weight"] = torch.randn(2, hidden_size, generator=g) * 0.2
    tensors["score.2.bias"] = torch.zeros(2)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    cfg = config.to_dict()
    cfg["architectures"] = ["Qwen2ForProcessRewardModel"]
    cfg["num_labels"] = 2
    (out / "config.json").write_text(json.dumps(cfg, indent=1))
    return out, vocab_size - 1


QWEN2_VL_SPECIALS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                     "<|video_pad|>")


def build_tiny_qwen2_vl(
    out: str | Path,
    *,
    chat_template: str | None = None,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    vision_dim: int = 32,
    max_pixels: int = 112 * 112,
    seed: int = 0,
) -> Path:
    """Write a random ``Qwen2VLForConditionalGeneration`` (safetensors) and its processor
    (char tokenizer with Qwen2-VL's special tokens, the slow PIL image processor: the fast
    one needs torchvision; load it with ``qwen2_vl_processor``) to ``out``: the real
    architecture at toy size, for tests of exports and trainers that read screenshots.
    ``max_pixels`` caps each image (a 640x480 screen becomes 12 image tokens at the default)."""
    import torch
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_tokenizer(out, QWEN2_VL_SPECIALS)
    tok = PreTrainedTokenizerFast.from_pretrained(str(out))
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN2_VL_SPECIALS}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tok), "hidden_size": hidden_size, "intermediate_size": 2 * hidden_size,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": heads,
            "max_position_embeddings": 4096, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                                 "mrope_section": [2, 3, 3]},
            "bos_token_id": 1, "eos_token_id": ids["<|im_end|>"], "pad_token_id": 0,
        },
        vision_config={"depth": 1, "embed_dim": vision_dim, "hidden_size": hidden_size, "num_heads": 2,
                       "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).float()
    model.save_pretrained(out, safe_serialization=True)
    Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=max_pixels).save_pretrained(out)
    if chat_template is not None:
        (out / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    return out


def qwen2_vl_processor(path: str | Path, chat_template: str | None = None) -> Any:
    """The ``Qwen2VLProcessor`` of a directory written by ``build_tiny_qwen2_vl`` (or any
    Qwen2-VL checkpoint), with the slow PIL image processor and no video processor.

    Why not ``AutoProcessor.from_pretrained``: in transformers 5 the video processor (and the
    fast image processor) need torchvision, which cannot be installed beside torch 2.13.0+cpu
    here, and the processor's class check fails on a missing video processor even when no
    video is used. Images go through ``Qwen2VLImageProcessorPil`` exactly as they would
    through the fast one's default settings."""
    from transformers import PreTrainedTokenizerFast, Qwen2VLImageProcessorPil, Qwen2VLProcessor

    class _NoVideo(Qwen2VLProcessor):
        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

    path = Path(path)
    if chat_template is None and (path / "chat_template.jinja").is_file():
        chat_template = (path / "chat_template.jinja").read_text(encoding="utf-8")
    return _NoVideo(
        image_processor=Qwen2VLImageProcessorPil.from_pretrained(str(path)),
        tokenizer=PreTrainedTokenizerFast.from_pretrained(str(path)),
        video_processor=None,
        chat_template=chat_template,
    )
