"""Pickled weights are refused with a clear error (no traceback) by every loader, unless the
user passes an explicit flag; remote code is never trusted (issue 17, security)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _cli import run_cli

from stepsieve import ConfigError
from stepsieve.backends._tiny_model import build_tiny_llama
from stepsieve.backends._weights import load_kwargs
from stepsieve.backends.transformers import TransformersBackend


def _pickled_copy(src: Path, dst: Path) -> Path:
    """``src`` re-saved with ``pytorch_model.bin`` (a pickle) and no safetensors."""
    import torch
    from safetensors.torch import load_file

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "*.safetensors.index.json"))
    torch.save(load_file(str(src / "model.safetensors")), dst / "pytorch_model.bin")
    assert (dst / "pytorch_model.bin").is_file() and not list(dst.glob("*.safetensors"))
    return dst


@pytest.fixture(scope="module")
def pickled(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("weights")
    return _pickled_copy(build_tiny_llama(root / "safe", hidden_size=32, intermediate_size=64), root / "pickled")


def test_load_kwargs_never_trust_remote_code_and_refuse_pickles(pickled, tmp_path):
    safe = build_tiny_llama(tmp_path / "safe", hidden_size=32, intermediate_size=64)
    assert load_kwargs(safe) == {"use_safetensors": True, "trust_remote_code": False}
    with pytest.raises(ConfigError, match=r"only pickled weights \(pytorch_model\.bin\).*--allow-pickle-weights"):
        load_kwargs(pickled)
    assert load_kwargs(pickled, allow_pickle=True) == {"use_safetensors": False, "trust_remote_code": False}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no weights"):
        load_kwargs(tmp_path / "empty")


def test_transformers_backend_refuses_a_pickle_dir_then_loads_it_when_allowed(pickled):
    with pytest.raises(ConfigError, match="pickled"):
        TransformersBackend(pickled)
    be = TransformersBackend(pickled, allow_pickle=True)
    assert be.generate(["1+1="], max_tokens=2, temperature=0.0)[0][0].tokens >= 1


def test_train_prm_refuses_a_pickled_base_without_a_traceback(pickled, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "task": "t", "steps": [{"index": 0, "text": "x"}]}\n')
    code, _, err = run_cli(["train-prm", data, "--base", pickled, "--out", tmp_path / "o", "--label", "mc"], capsys)
    assert code == 2 and "only pickled weights" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
    code, _, err = run_cli(["train-prm", data, "--objective", "implicit", "--base", pickled,
                            "--out", tmp_path / "o2"], capsys)
    assert code == 2 and "only pickled weights" in err and "Traceback" not in err


def test_grade_prm_refuses_a_checkpoint_with_a_pickled_backbone(pickled, tmp_path, capsys):
    from stepsieve.prm import StepRM
    from stepsieve.prm._model import StepRMConfig

    ckpt = tmp_path / "steprm"
    StepRM.from_base(pickled, StepRMConfig(label="mc"), allow_pickle=True).save(ckpt)
    for f in ckpt.glob("model*.safetensors"):
        f.unlink()
    shutil.copy(pickled / "pytorch_model.bin", ckpt / "pytorch_model.bin")  # the backbone as a pickle
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "task": "t", "steps": [{"index": 0, "text": "x"}]}\n')
    out = tmp_path / "g.jsonl"
    code, _, err = run_cli(["grade", data, out, "--grader", "prm", "--model", ckpt, "-q"], capsys)
    assert code == 2 and "only pickled weights" in err and "Traceback" not in err
    assert not out.exists() or out.read_text() == ""
