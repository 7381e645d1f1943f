"""Published process reward models through a server's pooling API (vLLM ``/pooling``).

Qwen2.5-Math-PRM and Math-Shepherd's PRM are served by vLLM as *pooling* models: the server
returns, for each step-tag token in the input, a row of class probabilities. The ``prm``
grader speaks that protocol when it is given a served model (``--backend openai --base-url
URL --model NAME``) instead of a StepRM directory. Each trajectory is one request, laid out as
the model was trained to read it (``prompt``):

- ``qwen`` (Qwen2.5-Math-PRM): chat messages — system, the task as the user message, and the
  steps joined by ``<extra_0>``, one after each step, as the assistant message; the row's
  column 1 is P(correct);
- ``math-shepherd``: one text — ``task`` then each step followed by `` ки`` (the step tag)
  on its own line; served with ``returned_token_ids`` [+, -], so column 0 is P(correct);
- ``text``: the task and the steps joined by ``step_tag``, with ``positive`` chosen by option.

A reply with a different number of rows than steps is an error naming the trajectory (the
template or the server's ``step_tag_id`` does not match), never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from stepsieve._errors import BackendError, ConfigError
from stepsieve.backends import Pools
from stepsieve.graders._protocol import grader_ref
from stepsieve.prm._grader import in_batches
from stepsieve.trajectory import Cost, Label, Trajectory

__all__ = ["PROMPTS", "ServedPRMGrader"]

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

# prompt layout -> (default step tag, default column of P(correct))
PROMPTS: dict[str, tuple[str, int]] = {
    "qwen": ("<extra_0>", 1),
    "math-shepherd": (" ки", 0),
    "text": ("\n\n", 1),
}


class ServedPRMGrader:
    """Scores every step of a trajectory with a served PRM, one pooling request each."""

    def __init__(
        self,
        backend: Pools,
        *,
        prompt: str = "qwen",
        step_tag: str | None = None,
        positive: int | None = None,
        system: str | None = None,
        threshold: float = 0.5,
        batch_size: int = 16,
        name: str = "prm",
    ) -> None:
        if prompt not in PROMPTS:
            raise ConfigError(f"prm prompt must be one of {', '.join(PROMPTS)}, got {prompt!r}")
        tag, col = PROMPTS[prompt]
        self.backend = backend
        self.prompt = prompt
        self.step_tag = tag if step_tag is None else step_tag
        self.positive = col if positive is None else positive
        self.system = QWEN_SYSTEM if system is None else system
        self.threshold = threshold
        self.batch_size = batch_size
        self.name = name
        model = getattr(backend, "model", "?")
        self.config: dict[str, Any] = {
            "served": getattr(backend, "model_id", model),
            "prompt": prompt,
            "step_tag": self.step_tag,
            "positive": self.positive,
            "threshold": threshold,
        }
        if prompt == "qwen":
            self.config["system"] = self.system
        self._ref = grader_ref(name, self.config)

    def request(self, t: Trajectory) -> dict[str, Any]:
        """The pooling request body of one trajectory (without the model name)."""
        steps = [s.text.strip() for s in t.steps]
        task = t.task if isinstance(t.task, str) else "\n".join(
            str(m.get("content", "")) for m in t.task if isinstance(m, dict)
        )
        if self.prompt == "qwen":
            return {
                "messages": [
                    {"role": "system", "content": self.system},
                    {"role": "user", "content": task},
                    {"role": "assistant", "content": "".join(s + self.step_tag for s in steps)},
                ]
            }
        if self.prompt == "math-shepherd":
            return {"input": task + " " + "".join(f"{s}{self.step_tag}\n" for s in steps)}
        return {"input": task + self.step_tag + "".join(s + self.step_tag for s in steps)}

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        return in_batches(trajectories, self.batch_size, self._grade_batch)

    def _grade_batch(self, batch: list[Trajectory]) -> Iterator[Trajectory]:
        pooled = self.backend.pool([self.request(t) for t in batch])
        for t, got in zip(batch, pooled, strict=True):
            if len(got.rows) != len(t.steps):
                raise BackendError(
                    f"trajectory {t.id!r}: the server returned {len(got.rows)} step rows for {len(t.steps)} steps "
                    f"(prompt {self.prompt!r}, step tag {self.step_tag!r}: does the server's step_tag_id match?)"
                )
            for j, (step, row) in enumerate(zip(t.steps, got.rows)):
                p = _probability(row, self.positive, t.id)
                step.labels[self.name] = Label(
                    score=p,
                    verdict="correct" if p >= self.threshold else "incorrect",
                    cost=Cost(1, got.tokens, 0, 0.0) if j == 0 else Cost(),
                    grader=self._ref,
                )
            yield t


def _probability(row: Any, col: int, tid: str) -> float:
    if isinstance(row, (int, float)):
        return float(row)  # a single-score head (one value a step)
    if isinstance(row, list) and len(row) > col and all(isinstance(v, (int, float)) for v in row):
        return float(row[col])
    raise BackendError(f"trajectory {tid!r}: a step row must be numbers with a column {col}, got {row!r:.80}")
