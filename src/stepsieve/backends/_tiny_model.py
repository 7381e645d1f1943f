"""Tiny randomly initialised models written to a directory: a Llama with a character-level
tokenizer, a Qwen2 process reward model, a Qwen2-VL with its processor.

Why it exists: the backend tests and benchmarks need a model that both ``transformers`` and an
OpenAI-compatible server (vLLM) load from disk, of the same kind as the embedded policy
(LlamaForCausalLM, char tokenizer built with ``tokenizers``), before that policy is trained and
on machines where nothing may be downloaded. Weights are safetensors; nothing is pickled.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
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


def _write_tokenizer(out: Path, extra_specials: tuple[str, ...] = (), chat_template: str | None = None) -> int:
    """Write the char tokenizer (``SPECIALS``, ``CHARSET``, then ``extra_specials``) into ``out``,
    made if missing; returns its vocabulary size."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    out.mkdir(parents=True, exist_ok=True)
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
    return len(vocab)


def _decoder_config(vocab_size: int, hidden_size: int, intermediate_size: int, layers: int, heads: int,
                    max_positions: int, *, bos: int | None = 1, eos: int = 2, pad: int = 0) -> dict[str, Any]:
    """The decoder's shape and special token ids, as every tiny model's config spells them
    (full multi-head attention: as many key/value heads as heads). The ids default to the char
    tokenizer's (``SPECIALS``: <pad> 0, <bos> 1, <eos> 2)."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": heads,
        "max_position_embeddings": max_positions,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }


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
    vocab_size = _write_tokenizer(out)
    config = LlamaConfig(
        **_decoder_config(vocab_size, hidden_size, intermediate_size, layers, heads, max_positions),
        initializer_range=init_std,
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
    vocab_size = _write_tokenizer(out, (step_tag,), chat_template)
    config = Qwen2Config(
        **_decoder_config(vocab_size, hidden_size, 2 * hidden_size, layers, heads, 1024),
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


# Qwen2-VL's special tokens and its chat template (as published with Qwen/Qwen2-VL-2B-Instruct).
QWEN2_VL_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                     "<|image_pad|>", "<|video_pad|>")
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_qwen2_vl(
    out: str | Path,
    *,
    chat_template: str | None = None,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    vision_dim: int = 32,
    min_pixels: int = 56 * 56,
    max_pixels: int = 112 * 112,
    texts: Iterable[str] = (),
    vocab_size: int = 512,
    init_std: float = 0.02,
    seed: int = 0,
) -> Path:
    """Write a random ``Qwen2VLForConditionalGeneration`` (safetensors) and its processor files
    to ``out``, laid out like a published Qwen2-VL: the real architecture at toy size, for tests
    of exports, trainers and StepRMs that read screenshots.

    - tokenizer: byte-level BPE (Qwen's kind) with Qwen2-VL's special tokens, merges learnt from
      ``texts`` up to ``vocab_size`` (bytes only without them; shorter sequences with them);
    - chat template: ``chat_template``, else Qwen2-VL's own;
    - ``preprocessor_config.json``: a ``Qwen2VLImageProcessor`` (``processor_class``
      ``Qwen2VLProcessor``); ``max_pixels`` caps each image (a 640x480 screen becomes 12 image
      tokens at the default, 2 at ``28 * 28 * 4``);
    - ``init_std``: Qwen's 0.02 by default; a larger one makes a random model's attention peaked
      enough that one image token visibly moves a later hidden state.

    ``AutoModelForImageTextToText`` loads it; ``AutoProcessor`` too where torchvision is
    installed, else ``stepsieve.backends._vl_processor.load_vl_processor`` (or
    :func:`qwen2_vl_processor`)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(QWEN2_VL_SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer=trainer)
    vocab = tok.get_vocab()
    ids = {t: vocab[t] for t in QWEN2_VL_SPECIALS}
    template = chat_template if chat_template is not None else QWEN2_VL_CHAT_TEMPLATE
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   model_max_length=32768)
    fast.chat_template = template
    fast.save_pretrained(str(out))
    (out / "chat_template.jinja").write_text(template, encoding="utf-8")
    Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels).save_pretrained(str(out))
    pre = out / "preprocessor_config.json"
    pre.write_text(json.dumps({**json.loads(pre.read_text()), "processor_class": "Qwen2VLProcessor",
                               "image_processor_type": "Qwen2VLImageProcessor"}, indent=1))
    half = hidden_size // heads // 2  # M-RoPE: (temporal, height, width) sections of the rotary half
    t_sec = half // 4
    h_sec = (half - t_sec) // 2
    config = Qwen2VLConfig(
        text_config={
            **_decoder_config(tok.get_vocab_size(), hidden_size, 2 * hidden_size, layers, heads, 32768,
                              bos=None, eos=ids["<|im_end|>"], pad=ids["<|endoftext|>"]),
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                "mrope_section": [t_sec, h_sec, half - t_sec - h_sec]},
            "initializer_range": init_std,
        },
        vision_config={"depth": 1, "embed_dim": vision_dim, "hidden_size": hidden_size, "num_heads": 2,
                       "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
                       "initializer_range": init_std},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    Qwen2VLForConditionalGeneration(config).float().save_pretrained(str(out), safe_serialization=True)
    return out


def qwen2_vl_processor(path: str | Path, chat_template: str | None = None) -> Any:
    """The ``Qwen2VLProcessor`` of a directory written by ``build_tiny_qwen2_vl`` (or any
    Qwen2-VL checkpoint), with the slow PIL image processor and no video processor where
    torchvision is missing (``stepsieve.backends._vl_processor.load_vl_processor``: in
    transformers 5 the video processor and the fast image processor need torchvision, which
    cannot be installed beside torch 2.13.0+cpu here). ``chat_template`` replaces the
    directory's."""
    from stepsieve.backends._vl_processor import load_vl_processor

    processor = load_vl_processor(path)
    if chat_template is not None:
        processor.chat_template = chat_template
    return processor
