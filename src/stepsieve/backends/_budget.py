"""A job's spending limit (``--max-cost``), checked *before* each call is made.

Why before: a budget that is only compared after the fact lets the call that crosses it be
paid for. Each backend asks ``Budget.charge`` with the most a call can cost (prompt tokens plus
``n * max_tokens``) and raises BudgetExceeded instead of sending it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stepsieve._errors import BudgetExceeded, ConfigError

__all__ = ["Budget"]


@dataclass
class Budget:
    """At most ``max_requests`` model calls and ``max_tokens`` tokens (in + out) for one job."""

    max_requests: int | None = None
    max_tokens: int | None = None
    requests: int = field(default=0, init=False)
    tokens: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_tokens"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise ConfigError(f"--max-cost: {name} must be >= 0, got {v}")

    @staticmethod
    def parse(text: str) -> Budget:
        """``"tokens=200000"``, ``"requests=500"`` or both, comma-separated (``1e6`` allowed)."""
        values: dict[str, int] = {}
        for part in text.split(","):
            key, sep, raw = part.strip().partition("=")
            key = key.strip().lower()
            if not sep or key not in ("tokens", "requests"):
                raise ConfigError(
                    f"--max-cost: cannot read {part.strip()!r}; write e.g. 'tokens=200000,requests=500'"
                )
            try:
                num = float(raw)
            except ValueError:
                raise ConfigError(f"--max-cost: {key} must be a number, got {raw.strip()!r}") from None
            if num < 0 or num != int(num):
                raise ConfigError(f"--max-cost: {key} must be a whole number >= 0, got {raw.strip()!r}")
            values[key] = int(num)
        return Budget(max_requests=values.get("requests"), max_tokens=values.get("tokens"))

    def charge(self, requests: int, tokens: int, *, backend: str | None = None, url: str | None = None) -> None:
        """Reserve ``requests`` calls and up to ``tokens`` tokens, or raise BudgetExceeded."""
        if self.max_requests is not None and self.requests + requests > self.max_requests:
            raise BudgetExceeded(
                f"budget exceeded: {self.requests} of {self.max_requests} requests spent, "
                f"the next call needs {requests} more (--max-cost)",
                backend=backend,
                url=url,
            )
        if self.max_tokens is not None and self.tokens + tokens > self.max_tokens:
            raise BudgetExceeded(
                f"budget exceeded: {self.tokens} of {self.max_tokens} tokens spent, "
                f"the next call may need {tokens} more (--max-cost)",
                backend=backend,
                url=url,
            )
        self.requests += requests
        self.tokens += tokens

    def refund(self, tokens: int) -> None:
        """Give back reserved tokens a call did not use (it stopped before ``max_tokens``)."""
        self.tokens = max(0, self.tokens - tokens)
