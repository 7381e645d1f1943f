"""The Backend protocol: batch-first model access for sampling and scoring.

Graders, samplers and search call models only through this protocol, so the same job runs
on the in-process ``transformers`` backend (with shared-prefix KV reuse) or on any
OpenAI-compatible server. Calls take a batch and return one result per request, so callers
never tune batch sizes.

Determinism: with a ``seed``, sample ``j`` of prompt ``i`` is a function of
(model, prompt, seed, j) only — not of batch composition — so caches key on it and a
resumed job reproduces the interrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stepsieve._registry import Registry
from stepsieve.trajectory import Cost

__all__ = ["BACKENDS", "Backend", "ChatBackend", "Generation", "HasSummary", "Pooled", "Pools", "Score"]


@dataclass(slots=True)
class Generation:
    """One sampled continuation."""

    text: str
    tokens: int  # generated tokens
    finish_reason: str = "stop"  # "stop" (stop string / eos) or "length"
    logprobs: list[float] | None = None  # per generated token, when asked
    # Prompt tokens of the request that produced this sample, shared among the samples it
    # returned: summed over a prompt's samples, what reading the prompt cost. Kept with the
    # sample in the request cache, so a label's cost is the same whether it was served from
    # the cache (a resumed job) or not.
    prompt_tokens: int = 0


@dataclass(slots=True)
class Score:
    """Log-likelihood of a given continuation after a prompt."""

    logprob: float  # sum over the continuation's tokens
    token_logprobs: list[float] = field(default_factory=list)
    tokens: int = 0


@dataclass(slots=True)
class Pooled:
    """What a pooling server returned for one input: its rows (one per pooled token, e.g.
    ``[P(wrong), P(right)]`` per step tag of a process reward model) and the prompt tokens."""

    rows: list[Any]
    tokens: int = 0


@runtime_checkable
class Backend(Protocol):
    """Model access. ``cost`` accumulates every call made through this backend."""

    name: str
    model: str
    cost: Cost

    # Optional, read with getattr: ``context_window`` (int, prompt + generated tokens the
    # model takes; a prompt that does not fit raises ContextOverflow, never a truncation),
    # ``count_tokens(texts) -> list[int]`` (exact prompt tokens), ``accepts_images`` (True
    # when chat messages may carry OpenAI ``image_url`` parts).

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
        """``n`` continuations for each prompt: ``result[i][j]`` is sample j of prompt i.

        A stop string ends a continuation and is not included in its text.
        """
        ...

    def score(self, prompts: Sequence[str], continuations: Sequence[str]) -> list[Score]:
        """Log-likelihood of ``continuations[i]`` given ``prompts[i]``."""
        ...


@runtime_checkable
class ChatBackend(Backend, Protocol):
    """A backend that also answers chat conversations (judges, agents).

    ``conversations[i]`` is a list of OpenAI-style messages (``{"role": ..., "content": ...}``);
    the model's chat template turns it into a prompt. Same options and result shape as
    :meth:`Backend.generate`.
    """

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
        ...


@runtime_checkable
class Pools(Protocol):
    """An optional capability: a backend that reaches a server's pooling API (vLLM's
    ``/pooling``), where reward models and process reward models are served."""

    def pool(self, requests: Sequence[dict[str, Any]]) -> list[Pooled]:
        ...


@runtime_checkable
class HasSummary(Protocol):
    """An optional capability: a backend that reports its own usage summary (a dry run's
    estimate, or what a job spent) as one JSON-ready dict. Never contains an API key."""

    def summary(self) -> dict[str, Any]:
        ...


# Entries are backend classes; callers build them with backend-specific arguments.
BACKENDS: Registry[Callable[..., Backend]] = Registry("backend")
BACKENDS.register("transformers", "stepsieve.backends.transformers:TransformersBackend")
BACKENDS.register("openai", "stepsieve.backends.openai:OpenAIBackend")
BACKENDS.register("gui-policy", "stepsieve.backends.gui_policy:GuiPolicyBackend")
