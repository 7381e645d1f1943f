"""A persistent sqlite request cache shared by every backend.

Why: model calls dominate the cost of a job; a repeated or interrupted job must never pay twice
for an answer it already has. Each finished request is written as soon as it completes, so a
crash loses at most the requests in flight.

Keys hash (model id, request, seed, sample index). The sample index keeps the N samples of one
prompt distinct; a *sampled* request without a seed is never cached at all (``cacheable``),
because two such requests are meant to give different answers — caching them would silently
collapse every Monte Carlo rollout into one. Secrets never enter a key or a value: callers pass
only the request body, never headers.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

__all__ = ["RequestCache", "cache_key", "cacheable", "default_cache_path"]


def default_cache_path() -> Path:
    """``$STEPSIEVE_CACHE_DIR/requests.sqlite``, else ``.stepsieve-cache/requests.sqlite`` here."""
    root = os.environ.get("STEPSIEVE_CACHE_DIR") or ".stepsieve-cache"
    return Path(root) / "requests.sqlite"


def cacheable(temperature: float, seed: int | None) -> bool:
    """Greedy requests and seeded samples are reproducible, so their answers may be reused."""
    return temperature == 0.0 or seed is not None


def cache_key(model: str, kind: str, request: dict[str, Any], seed: int | None, sample: int) -> str:
    """A stable hex key for one answer: sample ``sample`` of ``request`` to ``model``."""
    blob = orjson.dumps(
        {"model": model, "kind": kind, "request": request, "seed": seed, "sample": sample},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(blob).hexdigest()


class RequestCache:
    """Key → JSON value store in one sqlite file (WAL mode, safe across processes)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value BLOB NOT NULL, created REAL)"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return orjson.loads(row[0])

    def get_many(self, keys: list[str]) -> list[Any | None]:
        """Values for ``keys`` in order (None where absent); counts hits only if all are present."""
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in self._db.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk):
                    found[k] = orjson.loads(v)
        return [found.get(k) for k in keys]

    def put_many(self, items: list[tuple[str, Any]]) -> None:
        """Store answers and commit at once, so a later crash cannot lose them."""
        now = time.time()
        rows = [(k, orjson.dumps(v), now) for k, v in items]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", rows)
            self._db.commit()

    def put(self, key: str, value: Any) -> None:
        self.put_many([(key, value)])

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __repr__(self) -> str:
        return f"RequestCache({str(self.path)!r})"
