"""A backend that spends nothing and counts what a job would spend (``--dry-run``).

Why a backend rather than a separate estimator: the job runs through its real code path, so
the count reflects exactly the calls it makes. Answers are empty placeholders, so a job whose
later calls depend on earlier answers (binary search, early stopping) is counted along its
placeholder path; output tokens are the ``n * max_tokens`` ceiling, an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stepsieve.backends._protocol import Generation, Score
from stepsieve.trajectory import Cost

__all__ = ["DryRunBackend"]


class DryRunBackend:
    """Counts calls and tokens; ``cost`` holds the estimate, nothing is ever sent."""

    def __init__(self, name: str, model: str, count_tokens: Callable[[Sequence[str]], list[int]], exact: bool) -> None:
        self.name = f"dry-run:{name}"
        self.model = model
        self._count = count_tokens
        self.exact_prompt_tokens = exact  # False: prompt tokens are bounded by characters
        self.cost = Cost()

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
        self.cost = self.cost + Cost(len(prompts), sum(self._count(prompts)), len(prompts) * n * max_tokens, 0.0)
        return [[Generation("", 0, "dry_run", [] if logprobs else None) for _ in range(n)] for _ in prompts]

    def chat(self, conversations: Sequence[Sequence[dict[str, Any]]], **kw: Any) -> list[list[Generation]]:
        texts = ["\n".join(str(m.get("content", "")) for m in c) for c in conversations]
        return self.generate(texts, **kw)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        tokens = sum(self._count([p + c for p, c in zip(prompts, continuations)]))
        self.cost = self.cost + Cost(len(prompts), tokens, 0, 0.0)
        return [Score(0.0, [], 0) for _ in prompts]

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.name, "model": self.model, "dry_run": True, "calls": self.cost.calls,
            "tokens_in": self.cost.tokens_in, "tokens_out_at_most": self.cost.tokens_out,
            "prompt_tokens": "exact" if self.exact_prompt_tokens else "at most (1 token per character)",
        }
