"""The same generation and scoring through a real vLLM server (HTTP) and in process.

Tolerances: greedy samples must agree exactly (same text, same finish reason); per-token
log-probabilities within 1e-3 and a continuation's summed log-likelihood within 1e-3 per
token (vLLM's CPU float32 kernels and torch's differ in summation order only).
"""

from __future__ import annotations

import pytest

from stepsieve.backends import RequestCache
from stepsieve.backends.openai import OpenAIBackend

pytestmark = pytest.mark.server

TOL_TOKEN = 1e-3

PROMPTS = [
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nStep 1:",
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nStep 1: 3+4=7\nStep 2:",
    "Question: Ann has 12 pens and gives away 5.\n",
    "7*8=",
]


@pytest.fixture(scope="module")
def http(vllm_server):
    return OpenAIBackend(vllm_server.served_name, base_url=vllm_server.base_url, concurrency=4, timeout=120)


def test_greedy_generation_agrees_exactly(http, local):
    a = http.generate(PROMPTS, max_tokens=24, temperature=0.0, logprobs=True)
    b = local.generate(PROMPTS, max_tokens=24, temperature=0.0, logprobs=True)
    assert [r[0].text for r in a] == [r[0].text for r in b]
    assert [r[0].finish_reason for r in a] == [r[0].finish_reason for r in b]
    assert [r[0].tokens for r in a] == [r[0].tokens for r in b]
    for x, y in zip(a, b):
        assert x[0].logprobs == pytest.approx(y[0].logprobs, abs=TOL_TOKEN)


def test_greedy_with_stop_agrees(http, local):
    stop = ["\n", "=", " "]
    a = http.generate(PROMPTS, max_tokens=24, temperature=0.0, stop=stop)
    b = local.generate(PROMPTS, max_tokens=24, temperature=0.0, stop=stop)
    assert [r[0].text for r in a] == [r[0].text for r in b]
    assert [r[0].finish_reason for r in a] == [r[0].finish_reason for r in b]


def test_scoring_agrees_within_tolerance(http, local):
    conts = [" 3+4=7", " 7+2=9\n", "Step 1: 12-5=7", "56"]
    a = http.score(PROMPTS, conts)
    b = local.score(PROMPTS, conts)
    for x, y in zip(a, b):
        assert x.tokens == y.tokens > 0
        assert x.token_logprobs == pytest.approx(y.token_logprobs, abs=TOL_TOKEN)
        assert x.logprob == pytest.approx(y.logprob, abs=TOL_TOKEN * x.tokens)


def test_chat_agrees(http, local):
    conv = [[{"role": "user", "content": "What is 2+3?"}], [{"role": "user", "content": "Hi"}]]
    a = http.chat(conv, max_tokens=16, temperature=0.0)
    b = local.chat(conv, max_tokens=16, temperature=0.0)
    assert [r[0].text for r in a] == [r[0].text for r in b]


def test_seeded_samples_stable_across_n_and_cached(http, tmp_path):
    a = http.generate(PROMPTS[:2], n=2, max_tokens=12, temperature=1.0, seed=9)
    b = http.generate(PROMPTS[:2], n=4, max_tokens=12, temperature=1.0, seed=9)
    assert [[g.text for g in r[:2]] for r in b] == [[g.text for g in r] for r in a]
    assert len({g.text for g in b[0]}) > 1  # n samples are distinct samples
    cached = OpenAIBackend(http.model, base_url=http.base_url, cache=RequestCache(tmp_path / "c.sqlite"))
    first = cached.generate(PROMPTS[:2], n=2, max_tokens=12, seed=9)
    again = cached.generate(PROMPTS[:2], n=2, max_tokens=12, seed=9)
    assert [[g.text for g in r] for r in again] == [[g.text for g in r] for r in first]
    assert cached.stats["requests"] == 4 and cached.stats["cache_hits"] == 4  # one request per seeded sample
    assert cached.summary()["tokens_in"] > 0
