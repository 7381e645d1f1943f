"""One ``--max-cost`` for a whole Ray job: a budget every worker charges, held by one actor.

A per-worker :class:`~stepsieve.backends.Budget` would let N workers spend N budgets. Here the
driver starts one small actor (no CPU reserved) that holds the job's Budget; each worker's
backend gets a :class:`SharedBudget` in its place, whose ``charge``/``refund`` are calls to
that actor. Ray runs an actor's methods one at a time, so reservations from all workers are
checked against one counter: the cap is never crossed, whatever the number of workers.

What differs from one process: a backend that cannot reserve waits only for its *own*
requests in flight to settle (``OpenAIBackend._send_all``); reservations other workers hold
make it fail at once. So a Ray job stops at most (workers × concurrency) reservations before
the cap, never after it. A charge costs one round trip to the actor (about a millisecond on
one node), small beside the model call it guards.

This module imports Ray; only the Ray engine imports it.
"""

from __future__ import annotations

from typing import Any

import ray

from stepsieve._errors import BudgetExceeded
from stepsieve.backends import Budget

__all__ = ["SharedBudget", "start_keeper"]


class _Keeper:
    """The actor: the job's one Budget. Returns a refusal message instead of raising, so the
    worker raises the real BudgetExceeded (not Ray's wrapper around it)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def charge(self, requests: int, tokens: int) -> str | None:
        try:
            self.budget.charge(requests, tokens)
        except BudgetExceeded as e:
            return str(e)
        return None

    def refund(self, tokens: int) -> None:
        self.budget.refund(tokens)

    def spent(self) -> dict[str, Any]:
        b = self.budget
        return {"requests": b.requests, "tokens": b.tokens, "max_requests": b.max_requests,
                "max_tokens": b.max_tokens}


def start_keeper(budget: Budget) -> Any:
    """The keeper actor for ``budget`` (no CPU reserved: it only counts)."""
    return ray.remote(_Keeper).options(num_cpus=0).remote(budget)


class SharedBudget:
    """Stands in for a :class:`Budget` inside a worker; every charge goes to the keeper."""

    def __init__(self, keeper: Any) -> None:
        self.keeper = keeper

    def charge(self, requests: int, tokens: int, *, backend: str | None = None, url: str | None = None) -> None:
        refused = ray.get(self.keeper.charge.remote(requests, tokens))
        if refused is not None:
            raise BudgetExceeded(f"{refused}; the budget is the whole Ray job's", backend=backend, url=url)

    def refund(self, tokens: int) -> None:
        self.keeper.refund.remote(tokens)  # fire and forget: ordered after this worker's own charges
