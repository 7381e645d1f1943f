"""The HTTP backend against a misbehaving server on real sockets: retries, timeouts, partial
results, unreachable servers, budgets and the secrecy of the API key."""

from __future__ import annotations

import time

import pytest

from stepsieve import BackendError, BackendTimeout, BackendUnavailable, BudgetExceeded
from stepsieve.backends import Budget, RequestCache
from stepsieve.backends._server import free_port
from stepsieve.backends.openai import OpenAIBackend


def _backend(srv, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5.0)
    return OpenAIBackend("m", base_url=srv.base_url, **kw)


def test_retries_5xx_then_succeeds(fault_server):
    fault_server.script = [500, 503, "ok"]
    b = _backend(fault_server)
    out = b.generate(["a"], n=2, max_tokens=4, temperature=0.7)
    assert [g.text for g in out[0]] == ["echo:a#0", "echo:a#1"]
    assert len(fault_server.requests) == 3
    assert b.stats["retries"] == 2 and b.stats["requests"] == 1
    assert b.cost.calls == 1 and b.cost.tokens_in == 5 and b.cost.tokens_out == 6


def test_429_honours_retry_after_and_gives_up_with_the_error(fault_server):
    fault_server.default = 429
    fault_server.retry_after = "0.3"
    b = _backend(fault_server, max_retries=2)
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="429") as err:
        b.generate(["a"], max_tokens=4, temperature=0.0)
    assert time.monotonic() - t0 >= 0.6  # two waits of at least Retry-After
    assert len(fault_server.requests) == 3
    assert fault_server.base_url in str(err.value)


def test_bad_request_is_not_retried(fault_server):
    fault_server.default = 400
    b = _backend(fault_server)
    with pytest.raises(BackendError, match="HTTP 400"):
        b.generate(["a"], max_tokens=4)
    assert len(fault_server.requests) == 1


def test_hanging_server_times_out(fault_server):
    fault_server.default = "hang"
    b = _backend(fault_server, timeout=0.4, max_retries=1)
    t0 = time.monotonic()
    with pytest.raises(BackendTimeout, match=r"no answer within 0\.4s"):
        b.generate(["a"], max_tokens=4)
    assert time.monotonic() - t0 < 3.0
    assert len(fault_server.requests) == 2


def test_unreachable_server_names_url_within_timeout():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    b = OpenAIBackend("m", base_url=url, timeout=1.0, backoff=0.1)
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable) as err:
        b.generate(["a", "b"], max_tokens=4)
    assert time.monotonic() - t0 < 2.5
    assert url in str(err.value) and "unreachable" in str(err.value)


def test_failure_keeps_everything_finished_before_it(fault_server, tmp_path):
    prompts = [f"p{i}" for i in range(6)]
    fault_server.per_prompt = {"p3": 500}
    cache = RequestCache(tmp_path / "c.sqlite")
    b = _backend(fault_server, concurrency=1, max_retries=1, cache=cache)
    with pytest.raises(BackendError) as err:
        b.generate(prompts, max_tokens=4, temperature=0.0)
    e = err.value
    assert e.failed_index == 3 and "3 of 6 requests of this call finished" in str(e) and "HTTP 500" in str(e)
    assert [r is not None for r in e.partial] == [True, True, True, False, False, False]
    assert e.partial[1][0]["text"] == "echo:p1#0"
    # the server recovers; a re-run pays only for what was not finished
    fault_server.per_prompt = {}
    sent = len(fault_server.requests)
    out = b.generate(prompts, max_tokens=4, temperature=0.0)
    assert [row[0].text for row in out] == [f"echo:p{i}#0" for i in range(6)]
    assert [r["prompt"] for r in fault_server.requests[sent:]] == ["p3", "p4", "p5"]
    assert b.stats["cache_hits"] == 3


def test_concurrency_keeps_order(fault_server):
    b = _backend(fault_server, concurrency=8)
    prompts = [f"q{i}" for i in range(40)]
    out = b.generate(prompts, max_tokens=4, temperature=0.0)
    assert [row[0].text for row in out] == [f"echo:q{i}#0" for i in range(40)]


def test_sampled_without_seed_is_never_served_from_cache(fault_server, tmp_path):
    b = _backend(fault_server, cache=RequestCache(tmp_path / "c.sqlite"))
    b.generate(["a"], n=2, max_tokens=4, temperature=1.0)
    b.generate(["a"], n=2, max_tokens=4, temperature=1.0)
    assert len(fault_server.requests) == 2
    b.generate(["a"], n=2, max_tokens=4, temperature=1.0, seed=1)
    b.generate(["a"], n=2, max_tokens=4, temperature=1.0, seed=1)
    assert len(fault_server.requests) == 4  # seeded: one request per sample, then cached


def test_budget_refuses_before_sending(fault_server):
    b = _backend(fault_server, budget=Budget(max_requests=2))
    b.generate(["a", "b"], max_tokens=4)
    with pytest.raises(BudgetExceeded, match="requests"):
        b.generate(["c"], max_tokens=4)
    assert len(fault_server.requests) == 2
    t = _backend(fault_server, budget=Budget(max_tokens=50))
    with pytest.raises(BudgetExceeded, match="tokens"):
        t.generate(["x" * 10], n=2, max_tokens=30)
    assert len(fault_server.requests) == 2


def test_api_key_only_from_env_and_never_leaks(fault_server, tmp_path, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("MY_KEY", secret)
    cache = RequestCache(tmp_path / "c.sqlite")
    b = _backend(fault_server, api_key_env="MY_KEY", cache=cache)
    b.generate(["a"], max_tokens=4, temperature=0.0)
    assert fault_server.headers[-1]["Authorization"] == f"Bearer {secret}"
    assert secret not in repr(b) and secret not in str(b.summary()) and secret not in str(vars(b))
    cache.close()
    assert secret.encode() not in (tmp_path / "c.sqlite").read_bytes()
    fault_server.default = 400
    with pytest.raises(BackendError) as err:
        b.generate(["b"], max_tokens=4)
    assert secret not in str(err.value)


def test_token_budget_at_concurrency_8_waits_for_reservations_instead_of_refusing(fault_server):
    # One request reserves 10 prompt chars + 30 tokens = 40; eight at once would reserve 320.
    # Each uses 5 + 3 = 8, so all eight fit in 100 once reservations settle.
    b = _backend(fault_server, concurrency=8, budget=Budget(max_tokens=100))
    out = b.generate([f"prompt{i:04d}" for i in range(8)], max_tokens=30, temperature=0.0)
    assert len(out) == 8 and len(fault_server.requests) == 8
    assert b.budget.tokens == 64
    # The cap still holds: a request that cannot fit even alone stops before it is sent.
    with pytest.raises(BudgetExceeded, match="tokens"):
        b.generate(["y" * 10], max_tokens=40, temperature=0.0)
    assert len(fault_server.requests) == 8


def test_seeded_samples_are_one_request_each_with_seed_plus_j(fault_server, tmp_path):
    b = _backend(fault_server, cache=RequestCache(tmp_path / "c.sqlite"))
    out = b.generate(["a", "b"], n=3, max_tokens=4, temperature=1.0, seed=7)
    sent = sorted((r["prompt"], r["seed"], r["n"]) for r in fault_server.requests)
    assert sent == [(p, 7 + j, 1) for p in "ab" for j in range(3)]
    assert [len(r) for r in out] == [3, 3]
    assert [g.prompt_tokens for g in out[0]] == [5, 5, 5]  # each sample's own request
    again = b.generate(["a", "b"], n=3, max_tokens=4, temperature=1.0, seed=7)
    assert len(fault_server.requests) == 6 and b.stats["cache_hits"] == 6
    def rows(res):
        return [[(g.text, g.prompt_tokens) for g in r] for r in res]

    assert rows(again) == rows(out)


def test_a_server_that_dies_is_reported_with_what_it_said(fault_server):
    fault_server.script = [500]
    fault_server.error_message = "EngineDeadError: RuntimeError: CPU Generator does not use offset"
    b = _backend(fault_server, max_retries=3, timeout=1.0, backoff=0.05)
    orig = fault_server.on_request

    def die_after_first(body):
        orig(body)
        if len(fault_server.requests) == 1:
            fault_server.close_listener()

    fault_server.on_request = die_after_first
    with pytest.raises(BackendUnavailable) as err:
        b.generate(["a"], max_tokens=4, temperature=0.0)
    msg = str(err.value)
    assert "died" in msg and "CPU Generator does not use offset" in msg and "HTTP 500" in msg


def test_api_key_file_is_read_and_redacted_from_echoing_errors(fault_server, tmp_path):
    secret = "sk-file-key-abcdef0123456789"
    key_file = tmp_path / "key.txt"
    key_file.write_text(secret + "\n")
    b = _backend(fault_server, api_key_env="NO_SUCH_VAR_SET", api_key_file=key_file)
    fault_server.default = 401
    fault_server.error_message = f"Incorrect API key provided: {secret}"  # servers echo keys
    with pytest.raises(BackendError) as err:
        b.generate(["b"], max_tokens=4)
    assert fault_server.headers[-1]["Authorization"] == f"Bearer {secret}"
    assert secret not in str(err.value) and "***" in str(err.value)
