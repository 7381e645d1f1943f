"""Several OpenAI-compatible servers that serve the same model, used as one.

Why: a cluster runs N vLLM replicas; one client spreads its requests over them. Each request
goes to the healthy server with the fewest requests outstanding from this process (least
outstanding requests: a slow or loaded replica gets fewer, without any server-side load
report). A server whose request fails in a way worth retrying (connection refused, timeout,
429, 5xx, a cut or unreadable answer) is backed off — not chosen again for an exponentially
growing time — and the request is retried at once on another server. A bad request (4xx) is
not retried anywhere: it would fail on every replica.

Each attempt is one try of ``post_json`` (its retry loop is this class's loop here), so a
dead replica costs one failed connection, not a request's whole retry budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from stepsieve._errors import BackendError, ConfigError
from stepsieve.backends._http import RetryPolicy, post_json

__all__ = ["ServerPool"]


@dataclass
class _Server:
    url: str
    outstanding: int = 0
    requests: int = 0  # answered
    failures: int = 0  # failed attempts
    streak: int = 0  # failures in a row: the backoff exponent
    down_until: float = 0.0  # monotonic time before which it is not chosen


class ServerPool:
    """Base URLs of replicas of one model; :meth:`post` sends one request to the best of them."""

    def __init__(self, urls: list[str]) -> None:
        urls = [u.rstrip("/") for u in urls]
        if not urls:
            raise ConfigError("a server pool needs at least one base URL")
        if len(set(urls)) != len(urls):
            raise ConfigError(f"--base-url given twice: {sorted(u for u in urls if urls.count(u) > 1)[0]}")
        self.servers = [_Server(u) for u in urls]
        self._next = 0  # round-robin tie-break, so equal servers share the first requests

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def pick(self, avoid: set[int]) -> tuple[int, float]:
        """(server, seconds to wait first): the live server with the fewest requests outstanding
        (not one of ``avoid``, the servers this request already failed on, while others remain);
        when every server is backed off, the one that comes back first."""
        now = time.monotonic()
        n = len(self.servers)
        order = [(self._next + j) % n for j in range(n)]
        fresh = [i for i in order if i not in avoid] or order
        live = [i for i in fresh if self.servers[i].down_until <= now]
        if live:
            best = min(live, key=lambda i: self.servers[i].outstanding)
            self._next = (best + 1) % n
            return best, 0.0
        best = min(fresh, key=lambda i: self.servers[i].down_until)
        return best, self.servers[best].down_until - now

    async def post(
        self,
        client: httpx.AsyncClient,
        url_of: Callable[[str], str],
        body: dict[str, Any],
        headers: dict[str, str],
        policy: RetryPolicy,
        *,
        backend: str,
        stats: dict[str, int],
    ) -> dict[str, Any]:
        """POST ``body`` to the best server (``url_of(its base URL)``); fail over per the module docstring.
        Tries at most ``policy.max_retries + 1`` times plus once more per extra server."""
        once = replace(policy, max_retries=0)
        attempts = policy.max_retries + len(self.servers)
        tried: set[int] = set()
        last: BackendError | None = None
        for attempt in range(attempts):
            i, wait = self.pick(tried)
            if wait > 0:
                await asyncio.sleep(min(wait, policy.cap))
            s = self.servers[i]
            s.outstanding += 1
            try:
                resp = await post_json(client, url_of(s.url), body, headers, once, backend=backend, stats={})
            except BackendError as e:
                if not e.retryable:
                    raise
                s.failures += 1
                s.streak += 1
                s.down_until = time.monotonic() + policy.delay(s.streak - 1)
                tried.add(i)
                last = e
                if attempt + 1 < attempts:
                    stats["retries"] = stats.get("retries", 0) + 1
                    stats["failovers"] = stats.get("failovers", 0) + 1
                continue
            finally:
                s.outstanding -= 1
            s.requests += 1
            s.streak = 0
            s.down_until = 0.0
            return resp
        raise BackendError(
            f"every server failed ({attempts} attempts over {len(self.servers)} servers); last: {last}",
            backend=backend, url=last.url if last is not None else None,
        )

    def summary(self) -> list[dict[str, Any]]:
        return [{"url": s.url, "requests": s.requests, "failures": s.failures} for s in self.servers]
