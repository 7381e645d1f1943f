"""Ask a model once per item, with each item's own cost, never past its context window.

Shared by the judge and reasoning augmentation. Every item is one prompt (text, or a
:class:`RenderedPrompt` whose chat content may carry images); the backend answers ``n``
samples each. Three rules:

- **Own cost.** An item's ``tokens_in`` is what reading its own prompt cost, as the backend
  counted it (the sum of its samples' ``Generation.prompt_tokens`` shares), ``tokens_out`` its
  samples' tokens, ``calls`` its samples; seconds are shared by output tokens.
- **No silent truncation.** A prompt over the model's context raises ``ContextOverflow`` from
  the backend; with ``too_long="error"`` that becomes an error naming the item (``where``),
  with ``"skip"`` the item gets no reply and is returned in ``overflow``, and the others are
  asked again (those that had finished are kept from the error's ``partial``, never paid twice).
- **Chat or text.** ``chat=True`` sends one user message per item (``content()``: a string,
  or parts with images); otherwise the prompt text goes to ``generate``.
"""

from __future__ import annotations

from typing import Any, Literal

from stepsieve._errors import ContextOverflow
from stepsieve.backends import Backend, ChatBackend, Generation
from stepsieve.graders._action_context import RenderedPrompt
from stepsieve.trajectory import Cost

__all__ = ["Asked", "ask_each"]

Prompt = str | RenderedPrompt


class Asked:
    """Replies (None for an item over the context), per-item costs, and the overflows."""

    __slots__ = ("costs", "overflow", "replies")

    def __init__(self, replies: list[list[str] | None], costs: list[Cost], overflow: dict[int, ContextOverflow]):
        self.replies, self.costs, self.overflow = replies, costs, overflow


def _call(backend: Backend, prompts: list[Prompt], chat: bool, kw: dict[str, Any]) -> list[list[Generation]]:
    if chat:
        assert isinstance(backend, ChatBackend)
        convs = [[{"role": "user", "content": p.content() if isinstance(p, RenderedPrompt) else p}] for p in prompts]
        return backend.chat(convs, **kw)
    return backend.generate([p.text if isinstance(p, RenderedPrompt) else p for p in prompts], **kw)


def ask_each(
    backend: Backend,
    prompts: list[Prompt],
    where: list[str],
    *,
    chat: bool,
    too_long: Literal["error", "skip"],
    what: str,
    **kw: Any,
) -> Asked:
    """Ask every prompt (``kw``: n, max_tokens, temperature, seed, stop). ``what`` names the
    prompt in errors ("the judge prompt"); ``where[i]`` names item i (trajectory and step)."""
    results: list[list[Generation] | None] = [None] * len(prompts)
    overflow: dict[int, ContextOverflow] = {}
    pending = list(range(len(prompts)))
    secs0 = backend.cost.seconds
    while pending:
        try:
            gens = _call(backend, [prompts[k] for k in pending], chat, kw)
        except ContextOverflow as e:
            if e.index is None or not 0 <= e.index < len(pending):
                raise
            bad = pending[e.index]
            if too_long == "error":
                raise ContextOverflow(
                    f"{where[bad]}: {what} does not fit the model's context ({e}); use a model with a longer "
                    "context, a shorter template or -o history=K, or -o too_long=skip to leave such steps "
                    "undecided and count them",
                    index=bad, prompt_tokens=e.prompt_tokens, window=e.window, backend=e.backend, url=e.url,
                ) from None
            overflow[bad] = e
            for j, r in enumerate(getattr(e, "partial", None) or []):
                if r is not None:  # finished before the overflow was seen: keep it, never pay twice
                    results[pending[j]] = [Generation(**g) if isinstance(g, dict) else g for g in r]
            pending = [k for k in pending if k != bad and results[k] is None]
            continue
        for k, row in zip(pending, gens):
            results[k] = row
        pending = []
    secs = backend.cost.seconds - secs0
    out_tok = [sum(g.tokens for g in row) if row is not None else 0 for row in results]
    total = sum(out_tok) or 1
    n = int(kw.get("n", 1))
    costs = [
        Cost(n, sum(g.prompt_tokens for g in row), o, secs * o / total) if row is not None else Cost()
        for row, o in zip(results, out_tok)
    ]
    return Asked([[g.text for g in row] if row is not None else None for row in results], costs, overflow)
