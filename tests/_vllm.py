"""Starting a real vLLM server for a fixture (shared by the session's policy server and the
PRM server of tests/backends/test_served_prm.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepsieve.backends._server import VLLMServer


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
