"""Test-suite root: pytest puts this folder on sys.path, so tests import shared helpers
(``_cli.run_cli``) from here.

Session fixtures shared by tests/backends and tests/reliability: ``model_dir`` (the embedded
policy when it has been trained into the package, otherwise a tiny random Llama with a char
tokenizer of the same kind) and ``vllm_server``, a real vLLM (CPU build) OpenAI-compatible
server on 127.0.0.1 — session-scoped (20-60 s to start on an idle machine, 2.5 GB), niced,
always stopped. If vLLM is not installed the server tests FAIL: `make test` installs it with
scripts/setup_test_server.sh, and CI runs `make test`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from _vllm import running

from stepsieve.backends._server import VLLMServer, vllm_python
from stepsieve.backends._tiny_model import build_tiny_llama, embedded_policy_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = embedded_policy_dir()
    if found is not None:
        return found
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def vllm_server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    python = vllm_python(REPO)
    if not python.exists():
        pytest.fail(
            f"vLLM's venv is missing ({python}): run `bash scripts/setup_test_server.sh` first "
            "(`make test` does it); these tests need a real OpenAI-compatible server",
            pytrace=False,
        )
    probe = subprocess.run([str(python), "-c", "import vllm"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.fail(f"{python} cannot import vllm:\n{probe.stderr[-2000:]}", pytrace=False)
    # 20-60 s on an idle 2-core machine; minutes when it shares the cores with a training run.
    yield from running(VLLMServer(python, model_dir, tmp_path_factory.mktemp("vllm"), startup_timeout=900))
