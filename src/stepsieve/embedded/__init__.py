"""The embedded default models: a tiny policy and a tiny verifier that ship in the package.

Both are character-level ``LlamaForCausalLM`` models trained by ``scripts/train_embedded.py``
(the ``gui`` world's policy in ``gui_policy/`` is an element-ranking model, trained by
``scripts/train_gui_policy.py`` and served by ``stepsieve.backends.gui_policy``)
(weights as float32 safetensors next to this file) and loaded offline with
``from_pretrained`` from the package directory — no download, no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.embedded._formats import parse_verdict, verifier_prompt

__all__ = [
    "GUI_POLICY_DIR", "POLICY_DIR", "VERIFIER_DIR", "load_model", "model_dir", "parse_verdict", "verifier_prompt",
]

_HERE = Path(__file__).resolve().parent
POLICY_DIR = _HERE / "policy"
VERIFIER_DIR = _HERE / "verifier"
GUI_POLICY_DIR = _HERE / "gui_policy"  # the gui world's element-ranking policy


def model_dir(name: str) -> Path:
    """Directory of the embedded model ``name`` ("policy", "verifier" or "gui_policy")."""
    d = {"policy": POLICY_DIR, "verifier": VERIFIER_DIR, "gui_policy": GUI_POLICY_DIR}.get(name)
    if d is None:
        raise ConfigError(f"unknown embedded model {name!r} (known: policy, verifier, gui_policy)")
    if not (d / "model.safetensors").is_file():
        raise ConfigError(f"embedded model {name!r} is missing its weights at {d}; run scripts/train_embedded.py")
    return d


def load_model(name: str) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of an embedded model, in eval mode, loaded offline."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = model_dir(name)
    tok = AutoTokenizer.from_pretrained(d, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(d, local_files_only=True, dtype="float32")
    model.eval()
    return model, tok
