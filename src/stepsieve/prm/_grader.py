"""The ``prm`` grader: a trained StepRM labels every step, one forward pass per trajectory.

Label score = P(step correct); verdict = correct when the score reaches the threshold (by
default the one the checkpoint picked on its dev split), else incorrect. The cost of the
trajectory's forward pass (1 call, its tokens, its share of the batch's seconds) is recorded
on the label of its first step; the other steps' labels carry a zero cost, so summing cost
over labels counts each pass once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve._registry import check_options
from stepsieve.graders._plugin import GradeContext
from stepsieve.graders._protocol import grader_ref
from stepsieve.media import MediaResolver
from stepsieve.prm._model import StepRM
from stepsieve.prm._score import StepRMScorer
from stepsieve.prm._vlm import VLMStepRM
from stepsieve.prm.vision import VISION_CONFIG_NAME, VisionScorer, VisionStepRM
from stepsieve.trajectory import Cost, Label, Trajectory

__all__ = ["PRMGrader", "PRMOptions", "default_model_dir"]


@dataclass(frozen=True)
class PRMOptions:
    """The ``prm`` grader's options."""

    model: str | None = None  # StepRM checkpoint directory (default: --model, else the embedded StepRM)
    threshold: float | None = None  # P(correct) at or above which a step is correct (default: the checkpoint's)
    batch_size: int = 16  # trajectories per forward pass (served: per batch of requests)
    device: str | None = None  # torch device (default: cuda when available, else cpu)
    # A published PRM served by vLLM (--backend openai --base-url URL --model NAME):
    prompt: str = "qwen"  # served PRM layout: qwen (Qwen2.5-Math-PRM) | math-shepherd | text
    step_tag: str | None = None  # served PRM step tag (default: the prompt's: <extra_0>, ' ки', blank line)
    positive: int | None = None  # served PRM: the row column holding P(correct) (default: the prompt's)
    allow_pickle_weights: bool = False  # load a checkpoint whose backbone is pickled (runs code from it)

    def __post_init__(self) -> None:
        check_options(self, "grader 'prm'")
        if self.batch_size < 1:
            raise ConfigError(f"prm batch_size must be >= 1, got {self.batch_size}")


def default_model_dir() -> Path:
    """The StepRM that ships in the package (trained on the embedded world's ``mc`` labels)."""
    return Path(__file__).resolve().parent.parent / "embedded" / "steprm"



def line_of(source: str | Path, trajectory_id: str) -> int | None:
    """The line of ``source`` that holds the record ``trajectory_id`` (read only when an
    error needs it: the grader sees trajectories, the reader knew their lines)."""
    from stepsieve.formats import open_reader

    reader = open_reader(source, "stepsieve", on_error="skip")
    for t in reader:
        if t.id == trajectory_id:
            return None if reader.last is None else reader.last.line
    return None


def in_batches(
    trajectories: Iterable[Trajectory], size: int, grade_batch: Callable[[list[Trajectory]], Iterator[Trajectory]]
) -> Iterator[Trajectory]:
    """``grade_batch`` over consecutive batches of ``size`` trajectories, streamed (the PRM
    graders' one-forward-pass-per-batch loop)."""
    batch: list[Trajectory] = []
    for t in trajectories:
        batch.append(t)
        if len(batch) == size:
            yield from grade_batch(batch)
            batch = []
    if batch:
        yield from grade_batch(batch)

class PRMGrader:
    """Grades steps with a StepRM checkpoint directory (default: the embedded one)."""

    Options = PRMOptions

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        threshold: float | None = None,
        batch_size: int = 16,
        device: str | None = None,
        name: str = "prm",
        allow_pickle_weights: bool = False,
        source: str | Path | None = None,
    ) -> None:
        """``source``: the record file the trajectories come from; a vision StepRM (the embedded
        screen model, or one on a vision-language model) resolves their screenshots against its
        folder (None: the current directory)."""
        path = Path(model) if model is not None else default_model_dir()
        self.name = name
        self.batch_size = batch_size
        self._scorer: StepRMScorer | VisionScorer
        if (path / VISION_CONFIG_NAME).is_file():  # a vision StepRM reads the steps' screenshots
            vision = VisionStepRM.load(path, device=device)
            self._scorer = VisionScorer(vision, resolver=MediaResolver(source), batch_size=batch_size,
                                        line_of=None if source is None else lambda tid: line_of(source, tid))
            trained, separator = vision.config.label, None
            default_threshold = vision.config.threshold
        else:
            self._model = StepRM.load(path, device=device, allow_pickle=allow_pickle_weights)
            if isinstance(self._model, VLMStepRM):  # a vision-language StepRM renders the screenshots
                self._model.media = MediaResolver(source)
            self._scorer = StepRMScorer(self._model, batch_size=batch_size)
            trained, separator = self._model.config.label, self._model.config.separator
            default_threshold = self._model.config.threshold
        self.threshold = float(threshold if threshold is not None else default_threshold)
        self.config: dict[str, Any] = {"model": str(path), "threshold": self.threshold}
        if separator is not None:  # a text StepRM's config keeps its keys (and so its hash)
            self.config["separator"] = separator
        self.config["trained_on"] = trained
        self._ref = grader_ref(name, self.config)

    @classmethod
    def from_options(cls, options: PRMOptions, ctx: GradeContext) -> Any:
        """A StepRM directory scores in process; a model name with ``--backend openai`` is a
        published PRM scored through the server's pooling API (``ServedPRMGrader``)."""
        o = options
        model = o.model or ctx.model
        if model is not None and not Path(model).is_dir() and not ctx.default_model:
            from stepsieve.backends import Pools
            from stepsieve.prm._served import ServedPRMGrader

            backend = ctx.make_backend()
            if not isinstance(backend, Pools):
                raise ConfigError(
                    f"prm: {model} is not a StepRM directory, and the {backend.name} backend has no pooling "
                    "API: serve a published PRM with vLLM and pass --backend openai --base-url URL --model NAME"
                )
            return ServedPRMGrader(
                backend, prompt=o.prompt, step_tag=o.step_tag, positive=o.positive,
                threshold=0.5 if o.threshold is None else o.threshold, batch_size=o.batch_size,
                name=ctx.label or "prm",
            )
        return cls(model, threshold=o.threshold, batch_size=o.batch_size, device=o.device, name=ctx.label or "prm",
                   allow_pickle_weights=o.allow_pickle_weights, source=ctx.source)

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        """Stream: score ``batch_size`` trajectories per forward pass and yield them labelled."""
        return in_batches(trajectories, self.batch_size, self._grade_batch)

    def _grade_batch(self, batch: list[Trajectory]) -> Iterator[Trajectory]:
        scores = self._scorer.score_steps(batch)
        for t, probs, (tokens, seconds) in zip(batch, scores, self._scorer.stats.per_trajectory):
            for j, (step, p) in enumerate(zip(t.steps, probs)):
                cost = Cost(1, tokens, 0, seconds) if j == 0 else Cost()
                step.labels[self.name] = Label(
                    score=p,
                    verdict="correct" if p >= self.threshold else "incorrect",
                    cost=cost,
                    grader=self._ref,
                )
            yield t
