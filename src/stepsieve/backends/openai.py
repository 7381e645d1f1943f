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
import json
import os
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from stepsieve._errors import BackendError, BudgetExceeded, ConfigError, ContextOverflow
from stepsieve.backends._budget import Budget
from stepsieve.backends._cache import RequestCache, cache_key, cacheable
from stepsieve.backends._content import conversation_bound
from stepsieve.backends._http import RetryPolicy, Secret, post_json
from stepsieve.backends._pool import ServerPool
from stepsieve.backends._protocol import Generation, Pooled, Score
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
        base_url: str | Sequence[str] = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        api_key_file: str | os.PathLike[str] | None = None,
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
        if not timeout > 0:
            raise ConfigError(f"--timeout must be > 0 seconds, got {timeout}")
        self.model = model
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        # Several replicas of the model: requests spread by least outstanding, failures fail over.
        self.servers = ServerPool(urls) if len(urls) > 1 else None
        self.base_url = urls[0].rstrip("/") if urls else ""
        self.concurrency = concurrency
        self.policy = RetryPolicy(max_retries=max_retries, base=backoff, cap=backoff_max, timeout=timeout)
        self._api_key = _read_key(api_key_env, api_key_file)
        self.api_key_env = api_key_env
        self.cache = cache
        self.budget = budget
        self.progress = progress
        where = ",".join(sorted(self.servers.urls)) if self.servers is not None else self.base_url
        self.model_id = f"openai:{where}:{model}"  # no key: cache entries are not secret-bound
        self.cost = Cost()
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "failures": 0, "cache_hits": 0}
        self._seen: dict[str, str] = {}  # the last error the server itself answered (why it died)

    def __repr__(self) -> str:
        urls = self.servers.urls if self.servers is not None else self.base_url
        return f"OpenAIBackend({self.model!r}, base_url={urls!r}, concurrency={self.concurrency})"

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
        body = _sampling_body(n, max_tokens, stop, temperature, seed, 0 if logprobs else None)
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
        body = _sampling_body(n, max_tokens, stop, temperature, seed, True if logprobs else None)
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

    def pool(self, requests: Sequence[dict[str, Any]]) -> list[Pooled]:
        """Per-token pooling outputs from vLLM's pooling API (``POST /pooling`` at the server's
        root), one per request body (``{"input": text}`` or ``{"messages": [...]}``): for a
        process reward model served with STEP pooling, one row per step tag, e.g. ``[P(wrong),
        P(right)]`` for Qwen2.5-Math-PRM. Deterministic, so cached like greedy requests."""
        jobs = []
        for body in requests:
            key = cache_key(self.model_id, "pool", body, None, 0)
            jobs.append((body, len(json.dumps(body)), [key], 0, None))
        url = self.base_url.removesuffix("/v1") + "/pooling"

        def parse(resp: dict[str, Any], job: tuple) -> list[dict[str, Any]]:
            data = resp.get("data")
            rows = data[0].get("data") if isinstance(data, list) and data and isinstance(data[0], dict) else None
            if not isinstance(rows, list):
                raise BackendError(
                    f"{url}: a pooling answer holds data[0].data (one row a token), got {str(resp)[:200]}",
                    backend=self.name, url=url,
                )
            usage = resp.get("usage") or {}
            return [{"rows": rows, "tokens": int(usage.get("prompt_tokens", 0))}]

        results = self._run("", jobs, parse, url=url)
        return [Pooled(**r[0]) for r in results]

    def summary(self) -> dict[str, Any]:
        """Run summary: requests, retries, failures, cache hits, tokens and throughput."""
        c = self.cost
        secs = c.seconds or 1e-9
        out = {
            "backend": self.name, "model": self.model, "base_url": self.base_url, **self.stats,
            **c.to_dict(), "requests_per_s": c.calls / secs, "tokens_out_per_s": c.tokens_out / secs,
        }
        if self.servers is not None:
            out["base_url"] = self.servers.urls
            out["servers"] = self.servers.summary()
        return out

    # ---------------------------------------------------------------- machinery

    def _sampled(self, path, reqs, n, max_tokens, temperature, seed, parse_gens) -> list[list[Generation]]:
        """Seeded sampling with n > 1 is sent as n requests of one sample each, sample j with
        seed ``seed + j`` (what vLLM gives sample j of an ``n`` request): sample j then depends
        only on (prompt, seed, j) on every server, and vLLM's CPU engine, which dies on seeded
        ``n > 1`` requests once its batch is full (``CPU Generator does not use offset``),
        serves them. Cache keys are per sample and the same either way."""
        use_cache = cacheable(temperature, seed)
        # Greedy samples are all the same: ask for one (vLLM rejects n > 1 with temperature 0).
        ask = 1 if temperature == 0.0 else n
        split = seed is not None and ask > 1
        jobs, owner = [], []
        for i, (body, chars) in enumerate(reqs):
            body = {**body, "n": ask}
            keyed = {k: v for k, v in body.items() if k != "n"}
            keys = [cache_key(self.model_id, path, keyed, seed, j) for j in range(n)] if use_cache else []
            if split:
                for j in range(n):
                    jobs.append(({**body, "n": 1, "seed": seed + j}, chars, keys[j : j + 1], max_tokens, 1))
                    owner.append(i)
            else:
                jobs.append((body, chars, keys, n * max_tokens, ask))
                owner.append(i)

        def parse(resp: dict[str, Any], job: tuple) -> list[dict[str, Any]]:
            want = job[4]
            gens = parse_gens(resp, want)
            per_job = 1 if split else n
            return gens if want == per_job else [dict(gens[0]) for _ in range(per_job)]

        results = self._run(path, jobs, parse)
        out: list[list[Generation]] = [[] for _ in reqs]
        for i, r in zip(owner, results):
            out[i].extend(Generation(**g) for g in r)
        return out

    def _run(
        self, path: str, jobs: list[tuple], parse: Callable[[dict, tuple], list[dict]], *, url: str | None = None
    ) -> list[list[dict]]:
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
        url = url or self.base_url + path
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
        # Budget reservations of requests in flight: a request whose reservation does not fit
        # waits for those to settle (they give back what they did not use) and fails only if
        # it still does not fit with nothing in flight.
        settled = asyncio.Condition()
        reserved = [0]

        async def reserve(need: int) -> None:
            assert self.budget is not None
            async with settled:
                while True:
                    try:
                        self.budget.charge(1, need, backend=self.name, url=url)
                    except BudgetExceeded:
                        if reserved[0] == 0 or failure:
                            raise
                        await settled.wait()
                    else:
                        reserved[0] += 1
                        return

        async def settle(unused: int) -> None:
            assert self.budget is not None
            async with settled:
                self.budget.refund(unused)
                reserved[0] -= 1
                settled.notify_all()

        async def one(i: int) -> None:
            body, chars, keys, max_out, _ = jobs[i]
            async with sem:
                if failure:  # a request failed for good: start nothing new, finish what runs
                    return
                try:
                    if self.budget is not None:
                        await reserve(chars + max_out)
                except BudgetExceeded as e:
                    failure.append((i, e))
                    return
                try:
                    resp = await self._post(client, url, {**body, "model": self.model}, headers)
                    out = parse(resp, jobs[i])
                except BaseException as e:  # noqa: BLE001 — re-raised below with context
                    if isinstance(e, BackendError) and not isinstance(e, ContextOverflow) and _too_long(str(e)):
                        e = ContextOverflow(f"prompt {i} does not fit the model's context: {e}",
                                            index=i, backend=self.name, url=url)
                    failure.append((i, e))
                    self.stats["failures"] += 1
                    if self.budget is not None:
                        await settle(0)  # a failed request may have been paid for: keep it charged
                    return
                usage = resp.get("usage") or {}
                t_in, t_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                if self.budget is not None:
                    await settle(chars + max_out - t_in - t_out)
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
            msg = f"{err}; {done} of {len(jobs)} requests of this call finished and are {kept}"
            err.args = (self._api_key.redact(msg) if self._api_key else msg,)  # a server may echo it
            err.partial = list(results)  # type: ignore[attr-defined]
            err.failed_index = i  # type: ignore[attr-defined]
            raise err

    async def _post(self, client: httpx.AsyncClient, url: str, body: dict[str, Any],
                    headers: dict[str, str]) -> dict[str, Any]:
        """One request with its retries: to the one server, or to the best of the pool."""
        if self.servers is None:
            return await post_json(
                client, url, body, headers, self.policy, backend=self.name, stats=self.stats, seen=self._seen
            )
        # The request's URL on each replica: the same route under that replica's base URL (or,
        # for routes at the server's root such as /pooling, under its root).
        if url.startswith(self.base_url):
            route, rooted = url[len(self.base_url):], False
        else:
            route, rooted = url[len(self.base_url.removesuffix("/v1")):], True
        return await self.servers.post(
            client, lambda base: (base.removesuffix("/v1") if rooted else base) + route, body, headers,
            self.policy, backend=self.name, stats=self.stats,
        )


def _read_key(env: str, path: str | os.PathLike[str] | None) -> Secret | None:
    """The API key: from ``path`` when given (its first line), else from ``$env``; never from
    an option's value, so it stays out of shell history, process lists and manifests."""
    if path is None:
        key = os.environ.get(env)
        return Secret(key) if key else None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--api-key-file {path}: cannot read it ({type(e).__name__})") from None
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise ConfigError(f"--api-key-file {path}: the file is empty")
    return Secret(key)


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


def _sampling_body(n: int, max_tokens: int, stop: Sequence[str], temperature: float, seed: int | None,
                   logprobs: bool | int | None) -> dict[str, Any]:
    """The sampling fields of a completions or chat request. ``logprobs`` is the value that asks
    the endpoint for the sampled tokens' log-probabilities (completions: 0, chat: True); None
    asks for none."""
    body: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature, "n": n}
    if stop:
        body["stop"] = list(stop)
    if seed is not None:
        body["seed"] = seed
    if logprobs is not None:
        body["logprobs"] = logprobs
    return body


def _prompt_shares(resp: dict[str, Any], n: int) -> list[int]:
    """The request's prompt tokens shared among its n samples (they sum to the total)."""
    total = int((resp.get("usage") or {}).get("prompt_tokens", 0))
    return [total // n + (1 if j < total % n else 0) for j in range(n)]


def _completion_gens(resp: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise BackendError(f"server returned {len(choices)} choices, asked for {n}")
    texts = [c.get("text") or "" for c in choices]
    counts = _split_tokens(int((resp.get("usage") or {}).get("completion_tokens", 0)), texts)
    shares = _prompt_shares(resp, n)
    out = []
    for c, t, k, p in zip(choices, texts, counts, shares):
        lp = (c.get("logprobs") or {}).get("token_logprobs")
        out.append({"text": t, "tokens": len(lp) if lp is not None else k,
                    "finish_reason": "length" if c.get("finish_reason") == "length" else "stop",
                    "logprobs": [float(x) for x in lp] if lp is not None else None, "prompt_tokens": p})
    return out


def _chat_gens(resp: dict[str, Any], n: int) -> list[dict[str, Any]]:
    choices = sorted(resp.get("choices") or [], key=lambda c: c.get("index", 0))
    if len(choices) != n:
        raise BackendError(f"server returned {len(choices)} choices, asked for {n}")
    texts = [(c.get("message") or {}).get("content") or "" for c in choices]
    counts = _split_tokens(int((resp.get("usage") or {}).get("completion_tokens", 0)), texts)
    shares = _prompt_shares(resp, n)
    out = []
    for c, t, k, p in zip(choices, texts, counts, shares):
        content = (c.get("logprobs") or {}).get("content")
        lp = [float(x["logprob"]) for x in content] if content is not None else None
        out.append({"text": t, "tokens": len(lp) if lp is not None else k,
                    "finish_reason": "length" if c.get("finish_reason") == "length" else "stop",
                    "logprobs": lp, "prompt_tokens": p})
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
