"""Fixtures for the backend tests: a model directory, a real vLLM server, a fault server.

The model is the embedded policy when it has been trained into the package, otherwise a tiny
random Llama with a char tokenizer of the same kind. The vLLM server is session-scoped (about
20-60 s to start, 2.5 GB), niced, and always stopped. If vLLM is not installed the server tests
FAIL: `make test` installs it with scripts/setup_test_server.sh, and CI runs `make test`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepsieve.backends._server import CHAT_TEMPLATE, VLLMServer, vllm_python
from stepsieve.backends._tiny_model import build_tiny_llama, embedded_policy_dir

from ._fault_server import FaultServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: intra-op threads spin against each other and
    the training run (10x slower measured); one thread is faster. Restored after each module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = embedded_policy_dir()
    if found is not None:
        return found
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def chat_template() -> str:
    return CHAT_TEMPLATE


@pytest.fixture(scope="session")
def local(model_dir: Path):
    """The in-process backend on the same model the server serves (no request cache)."""
    from stepsieve.backends.transformers import TransformersBackend

    return TransformersBackend(model_dir, chat_template=CHAT_TEMPLATE)


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


def running(server: VLLMServer) -> Iterator[VLLMServer]:
    """Start ``server`` for a fixture, failing the tests with its log when it cannot start,
    and always stop it."""
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 — report the server log with the failure
        server.stop()
        pytest.fail(f"vLLM did not start: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv
