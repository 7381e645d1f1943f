"""Reasoning augmentation (WebSTAR): a model writes the reasoning behind each kept action.

For every action step that a label keeps (``label`` verdict ``correct``; ``keep="all"``:
every action), a model reads the task, the earlier steps and their results, the action and
the screen the agent saw (the screenshot before it, as an ``image_url`` part for a chat
vision-language model) and writes the reasoning that leads to that action. The text becomes
the step's ``thought`` after it passes :func:`check_thought`; ``step.meta["augment"]`` records
the generator, the template's sha256, the cost and the check (``"ok"``, or the reason with the
rejected text kept in ``rejected_thought``). A step that already has a thought (the agent's
own) keeps it unless ``overwrite``. Counts (``counts``) say how many steps were written,
rejected (by reason), over the context, or kept their own thought; nothing is dropped.

It runs as a job of the grading engine (batches flushed and fsync'ed, resumable, the
backend's request cache and ``--max-cost`` budget): the trajectory-level
``meta["augment"]["hash"]`` is its configuration hash, which :func:`written_hash` reads back
on resume.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from stepsieve._errors import ConfigError
from stepsieve._registry import check_options
from stepsieve.augment._check import check_thought
from stepsieve.backends import Backend, ChatBackend
from stepsieve.graders import config_hash
from stepsieve.graders._action_context import ImageOptions, RenderedPrompt, render_action
from stepsieve.graders._asking import ask_each
from stepsieve.media import MediaResolver
from stepsieve.trajectory import Trajectory

__all__ = ["AugmentOptions", "Augmenter", "written_hash"]


@dataclass(frozen=True)
class AugmentOptions:
    """``stepsieve augment`` options (``-o key=value``)."""

    label: str | None = None  # keep the action steps this label calls correct (required unless keep=all)
    keep: Literal["correct", "all"] = "correct"  # which action steps get a thought
    overwrite: bool = False  # replace a thought the step already has (the agent's own)
    template: str | None = None  # prompt template file, or a built-in: augment.txt (default), augment_compact.txt
    max_tokens: int = 256  # tokens per thought
    temperature: float = 0.0  # sampling temperature
    seed: int = 0  # sampling seed
    history: int = 6  # earlier steps shown in full
    images: int = 1  # screenshots per request (the screen before the action); 0 = text only
    image_max_side: int = 1024  # longer image side in pixels after downscaling
    image_max_bytes: int = 1_500_000  # encoded size cap per image
    min_chars: int = 20  # a shorter thought is rejected
    max_chars: int = 1200  # a longer thought is rejected
    tolerance: int = 12  # pixels: coordinates in a thought farther than this from the step's target fail
    too_long: Literal["error", "skip"] = "error"  # a prompt over the model's context: error, or skip (counted)
    chat: bool | None = None  # send chat messages (default: when the backend is an OpenAI chat server)

    def __post_init__(self) -> None:
        check_options(self, "augment")
        if self.keep == "correct" and not self.label:
            raise ConfigError("augment needs --label L (the label whose correct action steps get a thought), "
                              "or --keep all")
        if self.min_chars < 1 or self.max_chars < self.min_chars or self.max_tokens < 1:
            raise ConfigError("augment needs 1 <= min_chars <= max_chars and max_tokens >= 1")


BUILTIN_TEMPLATES = ("augment.txt", "augment_compact.txt")  # compact: for small context windows (embedded)


def _template(spec: str | None) -> tuple[str, str]:
    name = spec or "augment.txt"
    if name in BUILTIN_TEMPLATES:
        return name, resources.files("stepsieve.augment").joinpath("prompts", name).read_text()
    p = Path(name)
    if not p.is_file():
        raise ConfigError(f"augment template {spec!r} is not a file")
    return str(p), p.read_text()


def written_hash(record: dict) -> str | None:
    """The configuration hash an augment job stamped into an output record (resume)."""
    aug = (record.get("meta") or {}).get("augment")
    return aug.get("hash") if isinstance(aug, dict) else None


class Augmenter:
    """Writes thoughts for kept actions; a job the grading engine runs (``name``, ``config``,
    ``grade``)."""

    name = "augment"

    def __init__(self, backend: Backend, options: AugmentOptions, *, source: str | Path | None = None) -> None:
        self.options = o = options
        self.backend = backend
        self.template_name, self.template = _template(o.template)
        self.template_sha256 = hashlib.sha256(self.template.encode()).hexdigest()
        self.resolver = MediaResolver(source) if source is not None else None
        self.chat = o.chat if o.chat is not None else (
            backend.name in ("openai", "dry-run:openai") and isinstance(backend, ChatBackend)
        )
        self.send_images = o.images > 0 and self.chat and bool(getattr(backend, "accepts_images", False))
        self.generator = getattr(backend, "model_id", None) or f"{backend.name}:{backend.model}"
        opts = {k: v for k, v in asdict(o).items() if k not in ("template", "too_long")}
        self.config: Mapping[str, Any] = {"generator": self.generator, "template": self.template_name,
                                       "template_sha256": self.template_sha256, **opts}
        self.hash = config_hash(self.name, self.config)
        self.counts: Counter[str] = Counter()

    def _kept(self, t: Trajectory) -> list[int]:
        o = self.options
        if o.keep == "all":
            return [i for i, s in enumerate(t.steps) if s.kind == "action"]
        assert o.label is not None
        if not any(o.label in s.labels for s in t.steps):
            present = sorted({k for s in t.steps for k in s.labels})
            raise ConfigError(
                f"trajectory {t.id!r} has no label {o.label!r} (labels: {', '.join(present) or 'none'}); "
                "grade it first, or pass --keep all"
            )
        return [i for i, s in enumerate(t.steps)
                if s.kind == "action" and (lab := s.labels.get(o.label)) is not None and lab.verdict == "correct"]

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        o = self.options
        batch = list(trajectories)
        prompts: list[str | RenderedPrompt] = []
        where: list[tuple[Trajectory, int]] = []
        names: list[str] = []
        for t in batch:
            for i in self._kept(t):
                self.counts["kept_actions"] += 1
                if t.steps[i].thought and not o.overwrite:
                    self.counts["own_thought_kept"] += 1
                    continue
                p = render_action(self.template, t, i, history=o.history,
                                  images=ImageOptions(o.images, o.image_max_side, o.image_max_bytes),
                                  resolver=self.resolver, send_images=self.send_images,
                                  where=f"trajectory {t.id!r} step {i} ")
                self.counts["images"] += p.images
                prompts.append(p)
                where.append((t, i))
                names.append(f"trajectory {t.id!r} step {i}")
        got = ask_each(self.backend, prompts, names, chat=self.chat, too_long=o.too_long,
                       what="the augmentation prompt", n=1, max_tokens=o.max_tokens,
                       temperature=o.temperature, seed=o.seed)
        per_traj: dict[int, Counter[str]] = {}
        for k, ((t, i), texts, cost) in enumerate(zip(where, got.replies, got.costs)):
            step = t.steps[i]
            tally = per_traj.setdefault(id(t), Counter())
            meta: dict[str, Any] = {"generator": self.generator, "template_sha256": self.template_sha256,
                                    "cost": cost.to_dict()}
            sent = prompts[k]
            if isinstance(sent, RenderedPrompt):
                meta["images"] = sent.images
            if texts is None:
                meta["check"] = "too_long"
                meta["reason"] = str(got.overflow[k])
                self.counts["too_long"] += 1
                tally["too_long"] += 1
            else:
                thought = texts[0].strip()
                why = check_thought(thought, t, step, min_chars=o.min_chars, max_chars=o.max_chars,
                                    tolerance=o.tolerance)
                if why is None:
                    step.thought = thought
                    meta["check"] = "ok"
                    self.counts["written"] += 1
                    tally["written"] += 1
                else:
                    meta["check"] = why
                    meta["rejected_thought"] = thought
                    self.counts["rejected"] += 1
                    self.counts["rejected: " + why.split(":")[0].split(" (")[0]] += 1
                    tally["rejected"] += 1
            step.meta = {**(step.meta or {}), "augment": meta}
        for t in batch:
            tally = per_traj.get(id(t), Counter())
            t.meta = {**t.meta, "augment": {"hash": self.hash, "generator": self.generator,
                                            "label": o.label, "keep": o.keep, **dict(tally)}}
            yield t
