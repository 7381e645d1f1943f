"""One HTTP POST with a per-request timeout and retries (exponential backoff with jitter).

Why separate: the retry policy is the part of an HTTP backend most worth testing against a
real misbehaving server, and it knows nothing about completions or chat.

Retried: 408, 409, 429 and 5xx answers, timeouts and dropped connections. Not retried: other
4xx answers (a bad request stays bad). A server that refuses connections is retried only while
the request's timeout lasts, then reported as BackendUnavailable naming the URL, so an
unreachable server gives a clear error within the timeout and never a hang.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

from stepsieve._errors import BackendError, BackendTimeout, BackendUnavailable

__all__ = ["RetryPolicy", "Secret", "post_json"]

RETRY_STATUS = frozenset({408, 409, 429})


class Secret:
    """An API key that never prints: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the secret masked (a server may echo a key back)."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` more tries after the first; delay ``base * 2**k``, capped, with jitter."""

    max_retries: int = 4
    base: float = 0.5
    cap: float = 20.0
    timeout: float = 60.0  # seconds per attempt (connect, read, write, pool)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        d = min(self.cap, self.base * 2**attempt)
        d = d * random.uniform(0.5, 1.0)  # jitter: spread out clients that failed together
        if retry_after is not None:
            d = max(d, min(retry_after, self.cap))
        return d


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers.get("retry-after", ""))
    except ValueError:
        return None


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    policy: RetryPolicy,
    *,
    backend: str,
    stats: dict[str, int],
    seen: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST ``body`` and return the JSON answer, retrying per ``policy``; raises BackendError.

    ``seen`` (shared by one backend's requests) keeps the last error the server answered
    itself, so when it then stops accepting connections the error says that it died and
    what it said before, not only that it is unreachable."""
    seen = {} if seen is None else seen
    start = time.monotonic()
    last = ""
    for attempt in range(policy.max_retries + 1):
        retry_after = None
        try:
            resp = await client.post(url, json=body, headers=headers, timeout=policy.timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            last = f"cannot connect ({type(e).__name__}: {e})"
            waited = time.monotonic() - start
            if attempt == policy.max_retries or waited + policy.delay(attempt) > policy.timeout:
                if "server" in seen:
                    raise BackendUnavailable(
                        f"model server {url} died: it stopped accepting connections ({last}) after "
                        f"answering {seen['server']}; see its log, restart it and re-run to resume",
                        backend=backend, url=url,
                    ) from None
                raise BackendUnavailable(
                    f"model server {url} is unreachable: {last}; is it running?", backend=backend, url=url
                ) from None
        except httpx.TimeoutException:
            last = f"no answer within {policy.timeout:g}s"
            if attempt == policy.max_retries:
                raise BackendTimeout(
                    f"{url}: {last}, {attempt + 1} attempts", backend=backend, url=url
                ) from None
        except httpx.TransportError as e:
            last = f"connection failed ({type(e).__name__}: {e})"
        else:
            if resp.status_code == 200:
                try:
                    return resp.json()
                except ValueError:
                    last = f"HTTP 200 with a body that is not JSON: {resp.text[:200]!r}"
            elif resp.status_code in RETRY_STATUS or resp.status_code >= 500:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                if resp.status_code >= 500:
                    seen["server"] = last
                retry_after = _retry_after(resp)
            else:
                raise BackendError(f"{url}: HTTP {resp.status_code}: {resp.text[:500]}", backend=backend, url=url,
                                   retryable=False)
        if attempt == policy.max_retries:
            break
        stats["retries"] = stats.get("retries", 0) + 1
        await asyncio.sleep(policy.delay(attempt, retry_after))
    raise BackendError(f"{url}: failed after {policy.max_retries + 1} attempts: {last}", backend=backend, url=url)
