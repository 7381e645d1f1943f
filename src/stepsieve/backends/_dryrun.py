"""A backend that spends nothing and counts what a job would spend (``--dry-run``).

Why a backend rather than a separate estimator: the job runs through its real code path, so
the count reflects exactly the calls it makes. Answers are empty placeholders, so a job whose
later calls depend on earlier answers (binary search, early stopping) is counted along its
placeholder path; output tokens are the ``n * max_tokens`` ceiling, an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stepsieve.backends._content import conversation_text, image_urls, images_estimate
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
        self.accepts_images = name == "openai"
        self.cost = Cost()
        self.images = 0  # images the job would send
        self.image_tokens = 0  # their estimated prompt tokens (Qwen2-VL's count), in tokens_in

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._count(texts)

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
        return self._counted(prompts, self._count(prompts), n, max_tokens, logprobs)

    def _counted(self, prompts: Sequence[Any], counts: list[int], n: int, max_tokens: int, logprobs: bool):
        self.cost = self.cost + Cost(len(prompts), sum(counts), len(prompts) * n * max_tokens, 0.0)
        return [  # the prompt is read once for its n samples: each carries its share
            [Generation("", 0, "dry_run", [] if logprobs else None, prompt_tokens=k // n + (j < k % n))
             for j in range(n)]
            for k in counts
        ]

    def chat(
        self, conversations: Sequence[Sequence[dict[str, Any]]], *, n: int = 1, max_tokens: int = 256,
        logprobs: bool = False, **kw: Any,
    ) -> list[list[Generation]]:
        counts = self._count([conversation_text(c) for c in conversations])
        for k, c in enumerate(conversations):
            extra = images_estimate(c)
            self.images += len(image_urls(c))
            self.image_tokens += extra
            counts[k] += extra
        return self._counted(conversations, counts, n, max_tokens, logprobs)

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        tokens = sum(self._count([p + c for p, c in zip(prompts, continuations)]))
        self.cost = self.cost + Cost(len(prompts), tokens, 0, 0.0)
        return [Score(0.0, [], 0) for _ in prompts]

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.name, "model": self.model, "dry_run": True, "calls": self.cost.calls,
            "tokens_in": self.cost.tokens_in, "tokens_out_at_most": self.cost.tokens_out,
            "prompt_tokens": "exact" if self.exact_prompt_tokens else "at most (1 token per character)",
            "images": self.images, "image_tokens_estimate": self.image_tokens,
        }
