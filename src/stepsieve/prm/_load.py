"""Any step reward model directory as a :class:`StepScorer`, and (prompt, response) as steps.

``serve-prm`` and the reward functions for RL trainers take one model directory and must
treat a StepRM and an implicit PRM alike: :func:`load_scorer` tells them apart by their
config file. Trainers hand over text, not trajectories: :func:`text_to_trajectory` turns a
prompt and a response into the layout the model was trained on (the task recovered from the
model's template, the response split at the step separator).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.prm._implicit import IMPLICIT_CONFIG_NAME
from stepsieve.prm._model import CONFIG_NAME
from stepsieve.prm._score import StepScorer
from stepsieve.prm._vlm import VLM_CONFIG_NAME
from stepsieve.prm.vision._model import VISION_CONFIG_NAME
from stepsieve.trajectory import Step, Trajectory

__all__ = ["LoadedScorer", "load_scorer", "split_query", "task_from_prompt", "text_to_trajectory"]


@dataclass
class LoadedScorer:
    """A scorer with the layout its model reads: template (``{task}`` replaced) and step separator."""

    scorer: StepScorer
    kind: str  # "steprm", "vlm-steprm", "vision" or "implicit"
    path: str
    template: str
    separator: str


def load_scorer(
    model: str | Path | None = None,
    *,
    device: str | None = None,
    batch_size: int = 16,
    score: str | None = None,
) -> LoadedScorer:
    """A StepRM, implicit PRM or vision StepRM directory (default: the embedded StepRM) ready to score steps."""
    from stepsieve.prm._grader import default_model_dir

    d = Path(model) if model is not None else default_model_dir()
    if (d / IMPLICIT_CONFIG_NAME).is_file():
        from stepsieve.prm._implicit import ImplicitPRM
        from stepsieve.prm._implicit_grader import ImplicitScorer

        m = ImplicitPRM.load(d, device=device)
        return LoadedScorer(
            ImplicitScorer(m, batch_size=batch_size, score=score),
            "implicit",
            str(d),
            m.config.template,
            m.config.separator,
        )
    steprm = {CONFIG_NAME: "steprm", VLM_CONFIG_NAME: "vlm-steprm"}  # a text StepRM or one on a VLM
    kind = next((k for name, k in steprm.items() if (d / name).is_file()), None)
    if kind is not None:
        from stepsieve.prm._model import StepRM
        from stepsieve.prm._score import StepRMScorer

        if score is not None:
            raise ConfigError("score= applies to implicit PRMs; a StepRM's score is its P(correct)")
        s = StepRM.load(d, device=device)  # a VLMStepRM for a stepsieve_vlm_prm.json
        return LoadedScorer(StepRMScorer(s, batch_size=batch_size), kind, str(d), s.config.template, s.config.separator)
    if (d / VISION_CONFIG_NAME).is_file():
        from stepsieve.prm.vision import VisionScorer, VisionStepRM

        if score is not None:
            raise ConfigError("score= applies to implicit PRMs; a vision StepRM's score is its P(correct)")
        vs = VisionStepRM.load(d, device=device)
        # Screenshots resolve against the current directory (inline data: URLs always work).
        return LoadedScorer(VisionScorer(vs, batch_size=batch_size), "vision", str(d), "{task}", "\n")
    raise ConfigError(f"{d} is neither a StepRM ({CONFIG_NAME}), a vision-language StepRM ({VLM_CONFIG_NAME}), "
                      f"a vision StepRM ({VISION_CONFIG_NAME}) nor an implicit PRM ({IMPLICIT_CONFIG_NAME})")


def task_from_prompt(prompt: str, template: str) -> str:
    """The task inside ``prompt`` when the prompt is the template filled in, else the prompt as is."""
    pre, sep, post = template.partition("{task}")
    if sep and prompt.startswith(pre) and prompt.endswith(post) and len(prompt) >= len(pre) + len(post):
        return prompt[len(pre) : len(prompt) - len(post)]
    return prompt


def split_query(text: str, template: str) -> tuple[str, str] | None:
    """``(task, response)`` of a full text laid out as ``template`` + response; None when it is not."""
    pre, sep, post = template.partition("{task}")
    start = text.find(pre) if pre else 0
    if not sep or start < 0 or not post:
        return None
    end = text.find(post, start + len(pre))
    if end < 0:
        return None
    return text[start + len(pre) : end], text[end + len(post) :]


def _strip_specials(text: str, specials: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        for s in specials:
            if s and text.endswith(s):
                text, changed = text[: -len(s)], True
            if s and text.startswith(s):
                text, changed = text[len(s) :], True
    return text


def text_to_trajectory(
    task: str | list[dict[str, Any]],
    response: str,
    separator: str,
    *,
    tid: str = "",
    specials: tuple[str, ...] = (),
) -> Trajectory:
    """A trajectory of ``response`` split at ``separator`` (blank pieces dropped, ends stripped)."""
    response = _strip_specials(response, specials)
    steps = [p.strip() for p in response.split(separator) if p.strip()]
    return Trajectory(tid, task, [Step(i, s) for i, s in enumerate(steps)])
