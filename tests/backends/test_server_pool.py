"""Several OpenAI-compatible servers as one (``--base-url`` repeated): requests spread by least
outstanding, a failing server backed off and the request retried on another, a bad request
not retried anywhere. Real sockets on 127.0.0.1 (the fault server); no model needed."""

from __future__ import annotations

import pytest

from stepsieve import BackendError
from stepsieve.backends._server import free_port
from stepsieve.backends.openai import OpenAIBackend

from ._fault_server import FaultServer


def _pool(*urls: str, **kw) -> OpenAIBackend:
    kw.setdefault("backoff", 0.2)
    kw.setdefault("timeout", 5.0)
    return OpenAIBackend("m", base_url=list(urls), concurrency=8, progress=False, **kw)


def test_requests_spread_over_the_servers():
    with FaultServer() as a, FaultServer() as b:
        be = _pool(a.base_url, b.base_url)
        # unseeded: one request of n=2 a prompt (seeded samples go as one request each)
        out = be.generate([f"p{i}" for i in range(32)], n=2, seed=None)
        assert [g.text for g in out[5]] == ["echo:p5#0", "echo:p5#1"]
        assert len(a.requests) + len(b.requests) == 32
        # the first 8 concurrent requests are routed before any answer arrives, so least-outstanding
        # routing splits them 4/4; later ones go where answers come back first (timing, not asserted)
        assert min(len(a.requests), len(b.requests)) >= 4, (len(a.requests), len(b.requests))
        per_server = {s["url"]: s["requests"] for s in be.summary()["servers"]}
        assert per_server == {a.base_url: len(a.requests), b.base_url: len(b.requests)}


def test_a_dead_server_is_backed_off_and_its_requests_fail_over():
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    with FaultServer() as live:
        be = _pool(dead, live.base_url)
        out = be.generate([f"p{i}" for i in range(40)], n=1, seed=0)
        assert all(len(r) == 1 for r in out) and len(live.requests) == 40
        servers = {s["url"]: s for s in be.summary()["servers"]}
        assert servers[dead]["requests"] == 0 and servers[dead]["failures"] >= 1
        # backed off after failing: far fewer tries than requests, each retried elsewhere at once
        assert servers[dead]["failures"] <= 10, servers[dead]
        assert be.stats["failovers"] == servers[dead]["failures"]


def test_a_server_answering_5xx_fails_over_then_recovers():
    with FaultServer() as flaky, FaultServer() as good:
        flaky.script = [503, 503]
        be = _pool(flaky.base_url, good.base_url, backoff=0.01)
        for i in range(4):
            be.generate([f"q{i}-{j}" for j in range(4)], n=1, seed=0)
        servers = {s["url"]: s for s in be.summary()["servers"]}
        assert servers[flaky.base_url]["failures"] == 2
        assert servers[flaky.base_url]["requests"] >= 1  # back in rotation once its backoff ended


def test_a_bad_request_is_not_retried_on_another_server():
    with FaultServer() as a, FaultServer() as b:
        a.default = b.default = 400
        be = _pool(a.base_url, b.base_url)
        with pytest.raises(BackendError, match="HTTP 400"):
            be.generate(["x"], n=1, seed=0)
        assert len(a.requests) + len(b.requests) == 1


def test_every_server_down_names_the_last_error():
    be = _pool(f"http://127.0.0.1:{free_port()}/v1", f"http://127.0.0.1:{free_port()}/v1",
               max_retries=1, backoff=0.01)
    with pytest.raises(BackendError, match="every server failed"):
        be.generate(["x"], n=1, seed=0)


def test_cache_key_does_not_depend_on_server_order():
    one = _pool("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1")
    two = _pool("http://127.0.0.1:2/v1", "http://127.0.0.1:1/v1")
    assert one.model_id == two.model_id


def test_repeated_base_url_option_builds_a_pool(tmp_path):
    from stepsieve.cli._model_options import ModelOptions, backend_from_options

    urls = ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    be = backend_from_options(ModelOptions("openai", "m", urls, cache_path=str(tmp_path / "c.sqlite")))
    assert be.servers is not None and be.servers.urls == urls
    one = backend_from_options(ModelOptions("openai", "m", urls[:1], cache_path=str(tmp_path / "c.sqlite")))
    assert one.servers is None and one.base_url == urls[0]
