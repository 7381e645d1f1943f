"""Backend for any OpenAI-compatible server: vLLM, SGLang, llama.cpp server, Ollama, OpenAI.

Requests run concurrently (asyncio + httpx, at most ``concurrency`` in flight), each with its
own timeout and retries (:mod:`._http`). Each finished request is written to the request cache
at once, so when a request fails for good the error names it and everything finished before
it is kept: in the cache for the re-run, and on the exception as ``err.partial``.

The API key is read from the environment variable named by ``api_key_env`` and kept in a
:class:`~._http.Secret`; it is sent as a header and never reaches logs, cache keys, outputs
or reprs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import httpx

from stepsieve._errors import BackendError, ConfigError, ContextOverflow
from stepsieve.backends._budget import Budget
from stepsieve.backends._cache import RequestCache, cache_key, cacheable
from stepsieve.backends._content import conversation_bound
from stepsieve.backends._http import RetryPolicy, Secret, post_json
from stepsieve.backends._protocol import Generation, Score
from stepsieve.trajectory import Cost

__all__ = ["OpenAIBackend"]


_T = TypeVar("_T")


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class OpenAIBackend:
    """Completions, chat completions and log-likelihood scoring over HTTP."""

    name = "openai"
    accepts_images = True  # chat messages may carry image_url parts (the server must be a VLM)

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        backoff_max: float = 20.0,
        cache: RequestCache | None = None,
        budget: Budget | None = None,
        progress: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"--concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.policy = RetryPolicy(max_retries=max_retries, base=backoff, cap=backoff_max, timeout=timeout)
        key = os.environ.get(api_key_env)
        self._api_key = Secret(key) if key else None
        self.api_key_env = api_key_env
        self.cache = cache
        self.budget = budget
        self.progress = progress
        self.model_id = f"openai:{self.base_url}:{model}"  # no key: cache entries are not secret-bound
        self.cost = Cost()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "failures": 0, "cache_hits": 0}

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    # ---------------------------------------------------------------- public calls

    def generate(
        self,
        prompts: Sequence[str],
        *,
        n: int = 1,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 1.0,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[list[Generation]]:
        """Completions. With a seed, vLLM seeds sample j with ``seed + j``, which keeps sample j
        the same whatever ``n`` is; other servers may not promise that."""
        body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "n": n}
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        if logprobs:
            body["logprobs"] = 0
        reqs = [({**body, "prompt": p}, len(p)) for p in prompts]
        return self._sampled("/completions", reqs, n, max_tokens, temperature, seed, _completion_gens)

    def chat(
        self,
        conversations: Sequence[Sequence[dict[str, Any]]],
        *,
        n: int = 1,
        max_tokens: int = 256,
        stop: Sequence[str] = (),
        temperature: float = 1.0,
        seed: int | None = None,
        logprobs: bool = False,
    ) -> list[list[Generation]]:
        """Chat completions: ``conversations[i]`` is a list of ``{"role", "content"}`` messages."""
        body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "n": n}
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        if logprobs:
            body["logprobs"] = True
        reqs = [({**body, "messages": list(c)}, conversation_bound(c)) for c in conversations]
        return self._sampled("/chat/completions", reqs, n, max_tokens, temperature, seed, _chat_gens)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """Log-likelihoods by echo: the server returns the logprob of every prompt token of
        ``prompt + continuation`` (``max_tokens=0``); the continuation's tokens are those that
        cover its last ``len(continuation)`` characters (counted from the end, because servers
        disagree on whether text offsets count a BOS token)."""
        if len(prompts) != len(continuations):
            raise ConfigError(f"score: {len(prompts)} prompts but {len(continuations)} continuations")
        jobs = []
        for p, c in zip(prompts, continuations):
            body = {"prompt": p + c, "max_tokens": 0, "echo": True, "logprobs": 0, "temperature": 0.0}
            key = cache_key(self.model_id, "score", {"prompt": p, "continuation": c}, None, 0)
            jobs.append((body, len(p) + len(c), [key], 0, c))

        def parse(resp: dict[str, Any], job: tuple) -> list[dict[str, Any]]:
            return [_echo_score(resp, job[4], self.base_url)]

        results = self._run("/completions", jobs, parse)
        return [Score(**r[0]) for r in results]

    def summary(self) -> dict[str, Any]:
        """Run summary: requests, retries, failures, cache hits, tokens and throughput."""
        c = self.cost
        secs = c.seconds or 1e-9
        return {
            "backend": self.name, "model": self.model, "base_url": self.base_url, **self.stats,
            **c.to_dict(), "requests_per_s": c.calls / secs, "tokens_out_per_s": c.tokens_out / secs,
        }

    # ---------------------------------------------------------------- machinery

    def _sampled(self, path, reqs, n, max_tokens, temperature, seed, parse_gens) -> list[list[Generation]]:
        use_cache = cacheable(temperature, seed)
        # Greedy samples are all the same: ask for one (vLLM rejects n > 1 with temperature 0).
        ask = 1 if temperature == 0.0 else n
        jobs = []
        for body, chars in reqs:
            body = {**body, "n": ask}
            keyed = {k: v for k, v in body.items() if k != "n"}
            keys = [cache_key(self.model_id, path, keyed, seed, j) for j in range(n)] if use_cache else []
            jobs.append((body, chars, keys, n * max_tokens, None))

        def parse(resp: dict[str, Any], job: tuple) -> list[dict[str, Any]]:
            gens = parse_gens(resp, ask)
            return gens if ask == n else [dict(gens[0]) for _ in range(n)]

        results = self._run(path, jobs, parse)
        return [[Generation(**g) for g in r] for r in results]

    def _run(self, path: str, jobs: list[tuple], parse: Callable[[dict, tuple], list[dict]]) -> list[list[dict]]:
        """Send every job not already cached; keep what finished even when one fails for good.

        A job is (body, prompt chars, cache keys, max output tokens, extra). Prompt characters
        bound its prompt tokens from above, so the budget check never under-reserves.
        """
        t0 = time.perf_counter()
        results: list[list[dict] | None] = [None] * len(jobs)
        if self.cache is not None:
            for i, (_, _, keys, _, _) in enumerate(jobs):
                if keys:
                    got = self.cache.get_many(keys)
                    if all(g is not None for g in got):
                        results[i] = got  # type: ignore[assignment]
                        self.stats["cache_hits"] += 1
        todo = [i for i in range(len(jobs)) if results[i] is None]
        url = self.base_url + path
        try:
            _run_sync(self._send_all(url, jobs, todo, results, parse))
        finally:
            self.cost = self.cost + Cost(0, 0, 0, time.perf_counter() - t0)
        return results  # type: ignore[return-value]

    async def _send_all(self, url, jobs, todo, results, parse) -> None:
        headers = {"Authorization": f"Bearer {self._api_key.reveal()}"} if self._api_key else {}
        sem = asyncio.Semaphore(self.concurrency)
        failure: list[tuple[int, BaseException]] = []
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        bar = _progress(self.progress and len(todo) > 16, len(todo), url)

        async def one(i: int) -> None:
            body, chars, keys, max_out, _ = jobs[i]
            async with sem:
                if failure:  # a request failed for good: start nothing new, finish what runs
                    return
                if self.budget is not None:
                    self.budget.charge(1, chars + max_out, backend=self.name, url=url)
                try:
                    resp = await post_json(client, url, {**body, "model": self.model}, headers, self.policy,
                                           backend=self.name, stats=self.stats)
                    out = parse(resp, jobs[i])
                except BaseException as e:  # noqa: BLE001 — re-raised below with context
                    if isinstance(e, BackendError) and not isinstance(e, ContextOverflow) and _too_long(str(e)):
                        e = ContextOverflow(f"prompt {i} does not fit the model's context: {e}",
                                            index=i, backend=self.name, url=url)
                    failure.append((i, e))
                    self.stats["failures"] += 1
                    return
                usage = resp.get("usage") or {}
                t_in, t_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                if self.budget is not None:
                    self.budget.refund(chars + max_out - t_in - t_out)
                self.cost = self.cost + Cost(1, t_in, t_out, 0.0)
                self.stats["requests"] += 1
                results[i] = out
                if self.cache is not None and keys:
                    self.cache.put_many(list(zip(keys, out)))
                if bar is not None:
                    bar.advance(0)

        async with httpx.AsyncClient(limits=limits) as client:
            try:
                if bar is not None:
                    bar.start()
                await asyncio.gather(*(one(i) for i in todo))
            finally:
                if bar is not None:
                    bar.stop()
        if failure:
            i, err = min(failure, key=lambda f: f[0])
            done = sum(r is not None for r in results)
            if not isinstance(err, BackendError):
                err = BackendError(f"{url}: {type(err).__name__}: {err}", backend=self.name, url=url)
            if isinstance(err, ContextOverflow):
                err.index = i
            kept = "kept in the request cache" if self.cache is not None else "kept on err.partial"
            err.args = (f"request {i} of {len(jobs)} failed: {err}; {done} finished requests are {kept}",)
            err.partial = list(results)  # type: ignore[attr-defined]
            err.failed_index = i  # type: ignore[attr-defined]
            raise err


def _progress(show: bool, total: int, url: str):
    if not show:
        return None
    from rich.progress import Progress

    p = Progress(transient=True)
    task = p.add_task(f"requests to {url}", total=total)

    class _Bar:
        start, stop = p.start, p.stop

        @staticmethod
        def advance(_: int) -> None:
            p.advance(task)

    return _Bar


_TOO_LONG = ("context length", "maximum model length", "max_model_len", "prompt is too long", "input is too long",
             "context_length_exceeded",
             "exceeds the context", "longer than the maximum")


def _too_long(message: str) -> bool:
    """A client error (HTTP 400) saying the prompt does not fit: vLLM ("This model's maximum
    context length is N tokens", "... longer than the maximum model length"), OpenAI
    (``context_length_exceeded``), llama.cpp ("exceeds the context size"), SGLang."""
    low = message.lower()
    return "http 400" in low and any(k in low for k in _TOO_LONG)


def _split_tokens(total: int, texts: list[str]) -> list[int]:
    """Per-sample token counts when the server reports only the total: shared by text length."""
    chars = sum(len(t) for t in texts)
    if len(texts) == 1 or chars == 0:
        return [total // len(texts)] * len(texts)
    return [round(total * len(t) / chars) for t in texts]


def _completion_gens(resp: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise BackendError(f"server returned {len(choices)} choices, asked for {n}")
    texts = [c.get("text") or "" for c in choices]
    usage = resp.get("usage") or {}
    counts = _split_tokens(int(usage.get("completion_tokens", 0)), texts)
    out = []
    for c, t, k in zip(choices, texts, counts):
        lp = (c.get("logprobs") or {}).get("token_logprobs")
        out.append({"text": t, "tokens": len(lp) if lp is not None else k,
                    "finish_reason": "length" if c.get("finish_reason") == "length" else "stop",
                    "logprobs": [float(x) for x in lp] if lp is not None else None,
                    "prompt_tokens": int(usage.get("prompt_tokens", 0))})
    return out


def _chat_gens(resp: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise BackendError(f"server returned {len(choices)} choices, asked for {n}")
    texts = [(c.get("message") or {}).get("content") or "" for c in choices]
    usage = resp.get("usage") or {}
    counts = _split_tokens(int(usage.get("completion_tokens", 0)), texts)
    out = []
    for c, t, k in zip(choices, texts, counts):
        content = (c.get("logprobs") or {}).get("content")
        lp = [float(x["logprob"]) for x in content] if content is not None else None
        out.append({"text": t, "tokens": len(lp) if lp is not None else k,
                    "finish_reason": "length" if c.get("finish_reason") == "length" else "stop",
                    "logprobs": lp, "prompt_tokens": int(usage.get("prompt_tokens", 0))})
    return out


def _echo_score(resp: dict[str, Any], continuation: str, url: str) -> dict[str, Any]:
    if not continuation:
        return {"logprob": 0.0, "token_logprobs": [], "tokens": 0}
    try:
        lp = resp["choices"][0]["logprobs"]
        tokens, offsets, values = lp["tokens"], lp["text_offset"], lp["token_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise BackendError(f"{url}: the server does not echo prompt logprobs; it cannot score", url=url) from None
    end = offsets[-1] + len(tokens[-1])
    start = end - len(continuation)
    picked = [v for o, t, v in zip(offsets, tokens, values) if o + len(t) > start]
    if any(v is None for v in picked):
        raise BackendError(f"{url}: no logprob for the first continuation token (empty prompt?)", url=url)
    vals = [float(v) for v in picked]
    return {"logprob": sum(vals), "token_logprobs": vals, "tokens": len(vals)}
