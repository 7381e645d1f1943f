"""Fixtures for the backend tests: the in-process backend and a fault server.

``model_dir`` and the real vLLM server (``vllm_server``) are session fixtures of the suite's
root conftest, shared with tests/reliability so the server starts once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stepsieve.backends._server import CHAT_TEMPLATE

from ._fault_server import FaultServer


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
def chat_template() -> str:
    return CHAT_TEMPLATE


@pytest.fixture(scope="session")
def local(model_dir: Path):
    """The in-process backend on the same model the server serves (no request cache)."""
    from stepsieve.backends.transformers import TransformersBackend

    return TransformersBackend(model_dir, chat_template=CHAT_TEMPLATE)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv
