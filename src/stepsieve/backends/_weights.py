"""Which weights of a model directory may be loaded: safetensors, never pickles by default.

Why: ``pytorch_model.bin`` / ``*.pt`` checkpoints are Python pickles, and unpickling runs
whatever code the file holds. ``from_pretrained`` falls back to them when a directory has no
safetensors; every loader in stepsieve asks :func:`load_kwargs` first, which refuses such a
directory with a clear error (no traceback) unless the user passed an explicit flag
(``--allow-pickle-weights``). ``trust_remote_code`` is never set: a model directory's own
Python modules are not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError

__all__ = ["PICKLE_SUFFIXES", "load_kwargs"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def load_kwargs(path: str | Path, *, allow_pickle: bool = False, what: str = "model") -> dict[str, Any]:
    """Keywords for ``from_pretrained(path, **kw)``: safetensors only, no remote code.

    Raises ConfigError when ``path`` holds pickled weights and no safetensors, unless
    ``allow_pickle``. A path that is not a local directory is left to ``from_pretrained``
    (with ``use_safetensors=True`` it cannot load pickles either)."""
    d = Path(path)
    kw: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": False}
    if not d.is_dir():
        return kw
    files = [f.name for f in d.iterdir() if f.is_file()]
    # from_pretrained's weight files: model.safetensors, model-00001-of-00002.safetensors, the index
    if any(f.startswith("model") and f.endswith((".safetensors", ".safetensors.index.json")) for f in files):
        return kw
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
    if not pickles:
        raise ConfigError(f"{d}: no weights in this {what} directory (no model*.safetensors)")
    if not allow_pickle:
        raise ConfigError(
            f"{d}: this {what} directory holds only pickled weights ({', '.join(pickles[:3])}); loading a "
            "pickle runs code from the file, so stepsieve loads safetensors only. Convert it (load it in a "
            "trusted session and `save_pretrained(dir, safe_serialization=True)`), or pass "
            "--allow-pickle-weights if you trust where it came from"
        )
    return {"use_safetensors": False, "trust_remote_code": False}
