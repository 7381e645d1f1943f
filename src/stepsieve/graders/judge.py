"""The ``judge`` grader: an LLM reads the steps and says which are wrong.

Two modes (``mode``):

- ``first-error`` (ProcessBench critic): one call per trajectory with the steps tagged
  ``<paragraph_i>``; the reply's last ``\\boxed{k}`` is the first wrong step (-1: none).
  Steps before k are ``correct``, step k ``incorrect``, later steps None.
- ``per-step``: one call per step (problem, earlier steps, the step); the reply's last
  ``\\boxed{correct|incorrect}`` is its verdict.
- ``per-action``: one call per action step, in the WebSTAR style: the task, the earlier steps
  and their results, the action (text and machine form), what it returned and, for GUI agents,
  the screenshots before and after it as ``image_url`` parts (downscaled data URLs built at
  request time from the media store beside the input file, ``images``/``image_max_side``/
  ``image_max_bytes``); a text-only model gets the same rubric with the image slots as notes.
  The reply ends ``Verdict: correct|incorrect`` and ``Kind: ...`` (``none``; or suboptimal,
  wrong_target, wrong_action, harmful, premature, redundant, other), parsed strictly
  (:func:`parse_action_verdict`); the majority kind among the incorrect votes is
  ``extra["kind"]``. Reasoning steps get no label in this mode.

``votes`` samples k judgements (self-consistency) and takes the majority; a step's
``score`` is the share of parsed votes that call it correct. Parsing is strict: a reply
without a well-formed answer is not a vote, and when no vote parses the verdict is None
with the raw replies kept in ``rationale`` — never a guessed verdict.

Costs are each item's own: ``tokens_in`` is the item's prompt tokens as the backend counted
them (``Generation.prompt_tokens``), ``tokens_out`` its votes' tokens, ``calls`` its votes;
``extra`` names the prompt (``prompt_sha256``, and the text with ``keep_prompts``) and, per
action, ``images`` sent and ``images_left_out``.

A prompt that does not fit the model's context is never judged truncated: it raises
``ContextOverflow`` naming the trajectory and step (``too_long=error``, the default), or with
``too_long=skip`` its steps get verdict None, ``extra["too_long"]`` and the grader counts them
(``counts["too_long"]``, printed by ``stepsieve grade``).

Offline default: with no backend, the embedded verifier judges (first-error mode only; its
own prompt format, see ``stepsieve.embedded._formats``: it re-derives each step, marks it,
then writes ``Verdict: k`` or ``Verdict: none``; a reply without that line is unparseable).
``verifier=DIR`` picks another verifier directory (e.g. an older one, whose format its
``config.json`` names as ``verifier_format``). Templates are files a user can override
(``template=``); see ``graders/prompts/README.md``. Trajectory-level calls (first-error
mode) record their whole cost on step 0's label, so summing a label's costs over steps
always gives what the trajectory cost. The embedded verifier was trained on the ``arith``
world only: records naming another world (``meta.world``) are refused with an error naming it,
and GUI records (screenshots) are pointed at ``mc``, the offline default for them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from stepsieve._errors import ConfigError, ContextOverflow
from stepsieve._registry import check_options
from stepsieve.backends import BACKENDS, Backend, ChatBackend
from stepsieve.embedded import model_dir, parse_verdict, verifier_prompt
from stepsieve.graders._action_context import ImageOptions, RenderedPrompt, render_action
from stepsieve.graders._asking import ask_each
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.media import MediaResolver
from stepsieve.trajectory import Cost, Label, Trajectory, Verdict

__all__ = [
    "ACTION_KINDS",
    "EMBEDDED_VERIFIER_WORLDS",
    "JudgeGrader",
    "JudgeOptions",
    "parse_action_verdict",
    "parse_boxed_index",
    "parse_boxed_verdict",
]

Mode = Literal["first-error", "per-step", "per-action"]
# What an incorrect action is, in the per-action rubric (``none``: a correct one).
ACTION_KINDS = ("suboptimal", "wrong_target", "wrong_action", "harmful", "premature", "redundant", "other")
# The worlds the embedded verifier was trained on (a verifier directory may name its own in
# config.json as ``worlds``).
EMBEDDED_VERIFIER_WORLDS = ("arith",)
# Hashed as resolved since the first release; ``verifier`` is covered by the backend's id.
_RESOLVED = ("mode", "votes", "temperature", "max_tokens", "seed", "template", "chat", "verifier")


@dataclass(frozen=True)
class JudgeOptions:
    """The ``judge`` grader's options."""

    mode: Mode = "first-error"  # first-error: one call per trajectory; per-step: one call per step
    votes: int = 1  # judgements sampled per call, majority-aggregated
    temperature: float | None = None  # sampling temperature (default 0 for 1 vote, else 0.7)
    max_tokens: int = 1024  # tokens per judgement (the embedded verifier needs fewer: capped)
    seed: int = 0  # sampling seed: votes are reproducible
    template: str | None = None  # prompt template file (default: the built-in one for the mode)
    chat: bool | None = None  # send chat messages (default: when the backend is an OpenAI chat server)
    verifier: str | Path | None = None  # no model chosen: the embedded verifier directory to judge with
    images: int = 2  # per-action: screenshots per request (before, after); 0 = judge without the screen
    image_max_side: int = 1024  # per-action: longer image side in pixels after downscaling
    image_max_bytes: int = 1_500_000  # per-action: encoded size cap per image (else left out, counted)
    history: int = 8  # per-action: earlier steps shown in full (older ones are counted, not shown)
    too_long: Literal["error", "skip"] = "error"  # prompt over the model's context: error, or skip (None, counted)
    keep_prompts: bool = False  # keep each prompt's text in the label's extra (always: its sha256)

    def __post_init__(self) -> None:
        check_options(self, "grader 'judge'")
        if self.votes < 1:
            raise ConfigError(f"judge needs votes >= 1, got {self.votes}")
        if self.images < 0 or self.image_max_side < 16 or self.image_max_bytes < 1024 or self.history < 0:
            raise ConfigError("judge needs images >= 0, image_max_side >= 16, image_max_bytes >= 1024, history >= 0")
_BOXED = re.compile(r"\\boxed\s*\{\s*([^{}]*?)\s*\}")
_RAW_KEEP = 2000
_TEXT = re.compile(r"\\text\s*\{([^{}]*)\}")


def _boxes(text: str) -> list[str]:
    return _BOXED.findall(_TEXT.sub(r"\1", text))


def parse_boxed_index(text: str, n_steps: int) -> int | None:
    """The last ``\\boxed{k}`` as a first-error index in [-1, n_steps), else None."""
    found = _boxes(text)
    if not found or not re.fullmatch(r"-?\d+", found[-1]):
        return None
    k = int(found[-1])
    return k if -1 <= k < n_steps else None


def parse_boxed_verdict(text: str) -> bool | None:
    """The last ``\\boxed{correct|incorrect}`` as True/False, else None."""
    found = _boxes(text)
    if not found:
        return None
    word = found[-1].strip().lower()
    return {"correct": True, "incorrect": False}.get(word)


_VERDICT_LINE = re.compile(r"^[\s*#>_-]*verdict[\s*_]*:[\s*_]*([A-Za-z]+)[\s*_.]*$", re.I | re.M)
_KIND_LINE = re.compile(r"^[\s*#>_-]*kind[\s*_]*:[\s*_]*([A-Za-z_ -]+?)[\s*_.]*$", re.I | re.M)


def parse_action_verdict(text: str) -> tuple[bool, str | None] | None:
    """The last ``Verdict: correct|incorrect`` line and the ``Kind:`` line after it, as
    (correct, kind); None when either is missing or not one of the rubric's words (an
    incorrect verdict needs a kind from ACTION_KINDS, a correct one ``none`` or no kind)."""
    verdicts = list(_VERDICT_LINE.finditer(text))
    if not verdicts:
        return None
    last = verdicts[-1]
    word = last.group(1).lower()
    if word not in ("correct", "incorrect"):
        return None
    kinds = list(_KIND_LINE.finditer(text, last.end()))
    kind = kinds[-1].group(1).strip().lower().replace(" ", "_").replace("-", "_") if kinds else None
    if word == "correct":
        return (True, None) if kind in (None, "none") else None
    return (False, kind) if kind in ACTION_KINDS else None


def _load_template(spec: str | None, mode: Mode) -> tuple[str, str]:
    """(template name, text): a built-in by mode, or a user file."""
    if spec is None:
        name = {"first-error": "first_error.txt", "per-step": "per_step.txt"}.get(mode, "per_action.txt")
        return name, resources.files("stepsieve.graders").joinpath("prompts", name).read_text()
    p = Path(spec)
    if not p.is_file():
        raise ConfigError(f"judge template {spec!r} is not a file")
    return str(p), p.read_text()


def _fill(template: str, **values: str) -> str:
    for k, v in values.items():
        template = template.replace("{{" + k + "}}", v)
    return template


def _problem(t: Trajectory) -> str:
    if isinstance(t.task, str):
        return t.task
    return "\n".join(str(m.get("content") or "") for m in t.task)


class JudgeGrader:
    """An LLM judge over any Backend, or the embedded verifier offline (see module doc)."""

    Options = JudgeOptions

    def __init__(
        self, backend: Backend | None = None, options: JudgeOptions | None = None, *, name: str = "judge",
        source: str | Path | None = None, **kw: Any,
    ) -> None:
        o = self.options = with_options(JudgeOptions, options, kw, "grader 'judge'")
        # Screenshots are read relative to the input file's folder (per-action mode).
        self.resolver = MediaResolver(source) if source is not None else None
        self.counts: dict[str, int] = {"too_long": 0, "images": 0, "images_left_out": 0}
        self.verifier_worlds: tuple[str, ...] = ()
        mode, max_tokens = o.mode, o.max_tokens
        self.embedded = backend is None
        if self.embedded:
            if mode != "first-error":
                raise ConfigError("the embedded verifier answers the first wrong step only: use mode first-error")
            vdir = Path(o.verifier) if o.verifier is not None else model_dir("verifier")
            if not (vdir / "config.json").is_file():
                raise ConfigError(f"{vdir}: not a verifier directory (no config.json)")
            vconf = json.loads((vdir / "config.json").read_text())
            self.verifier_format = int(vconf.get("verifier_format", 1))
            self.verifier_worlds = tuple(vconf.get("worlds") or EMBEDDED_VERIFIER_WORLDS)
            backend = BACKENDS.get("transformers")(vdir)
            template_name, self.template = f"embedded-verifier-v{self.verifier_format}", ""
            # Format 1: marks then the number on one line (~15 characters, stops at the newline).
            # Format 2: one re-derived line per checked step (~15 characters each, 10 steps at
            # most for arith) and the verdict line; it ends with <eos>.
            max_tokens = min(max_tokens, 32 if self.verifier_format == 1 else 256)
        else:
            template_name, self.template = _load_template(o.template, mode)
        assert backend is not None
        self.backend: Backend = backend
        self.name = name
        self.mode = mode
        self.votes = o.votes
        self.temperature = o.temperature if o.temperature is not None else (0.0 if o.votes == 1 else 0.7)
        self.max_tokens = max_tokens
        self.seed = o.seed
        self.chat = o.chat if o.chat is not None else (
            backend.name in ("openai", "dry-run:openai") and isinstance(backend, ChatBackend)
        )
        self.send_images = mode == "per-action" and o.images > 0 and self.chat and bool(
            getattr(backend, "accepts_images", False)
        )
        self.image_options = ImageOptions(o.images, o.image_max_side, o.image_max_bytes)
        self.config: dict[str, Any] = {
            "backend": getattr(backend, "model_id", None) or f"{backend.name}:{backend.model}",
            "mode": mode,
            "votes": o.votes,
            "temperature": self.temperature,
            "max_tokens": max_tokens,
            "seed": o.seed,
            "template": template_name,
            "template_text": self.template,
            "chat": self.chat,
            **hashed_config(o, skip=_RESOLVED),
        }
        self._ref = grader_ref(name, self.config)

    @classmethod
    def from_options(cls, options: JudgeOptions, ctx: GradeContext) -> JudgeGrader:
        # no model chosen: the embedded verifier (not the embedded policy) judges, offline
        backend = None if ctx.default_model else ctx.make_backend()
        g = cls(backend, options, name=ctx.label or "judge", source=ctx.source)
        if g.embedded:
            g.check_world(ctx.records_world(), str(ctx.source))
        return g

    def check_world(self, world: str | None, where: str = "input", images: bool = False) -> None:
        """Refuse records the embedded verifier was not trained for (GUI records: use mc)."""
        if not self.embedded:
            return
        if images or world == "gui":
            raise ConfigError(
                f"{where}: GUI records (screenshots) and no judge model: the embedded verifier cannot see "
                "the screen and no embedded screen-seeing verifier exists, so the offline default for GUI "
                "is mc (`stepsieve grade IN OUT --grader mc`); or judge with a vision-language model "
                "(--backend openai --model NAME --base-url URL --mode per-action)"
            )
        if world is not None and world not in self.verifier_worlds:
            raise ConfigError(
                f"{where}: records from world {world!r}, but the embedded verifier was trained on "
                f"{', '.join(self.verifier_worlds)} only and would judge them blind; pass a judge model "
                "(--backend openai --model NAME, or --model DIR), or grade with mc / agent-rules"
            )

    # ---- model calls ------------------------------------------------------------------

    def _ask(
        self, prompts: list[str | RenderedPrompt], where: list[str]
    ) -> tuple[list[list[str] | None], list[Cost], dict[int, ContextOverflow]]:
        """``votes`` replies per prompt and each prompt's own cost (``_asking.ask_each``)."""
        kw: dict[str, Any] = {
            "n": self.votes, "max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed
        }
        if self.embedded and self.verifier_format == 1:
            kw["stop"] = ["\n"]
        got = ask_each(self.backend, prompts, where, chat=self.chat, too_long=self.options.too_long,
                       what="the judge prompt", **kw)
        self.counts["too_long"] += len(got.overflow)
        return got.replies, got.costs, got.overflow

    def _first_error_prompt(self, t: Trajectory) -> str:
        steps = [s.text for s in t.steps]
        if self.embedded:
            return verifier_prompt(_problem(t), steps, self.verifier_format)
        tagged = "\n\n".join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>" for i, s in enumerate(steps))
        return _fill(self.template, problem=_problem(t), tagged_steps=tagged, n_steps=str(len(steps)))

    def _parse_index(self, text: str, n: int) -> int | None:
        if self.embedded:
            return parse_verdict(text, n, self.verifier_format)
        return parse_boxed_index(text, n)

    def _prompt_extra(self, prompt: str | RenderedPrompt) -> dict[str, Any]:
        text = prompt.text if isinstance(prompt, RenderedPrompt) else prompt
        sha = prompt.sha256 if isinstance(prompt, RenderedPrompt) else hashlib.sha256(text.encode()).hexdigest()
        out: dict[str, Any] = {"prompt_sha256": sha}
        if self.options.keep_prompts:
            out["prompt"] = text
        return out

    def _too_long_label(self, e: ContextOverflow, prompt: str | RenderedPrompt) -> Label:
        extra = {"too_long": True, "prompt_tokens": e.prompt_tokens, "window": e.window, **self._prompt_extra(prompt)}
        return Label(None, None, f"prompt does not fit the model's context: {e}", Cost(), self._ref, extra)

    # ---- grading -----------------------------------------------------------------------

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        batch = list(trajectories)
        for t in batch:
            self.check_world(t.meta.get("world"), f"trajectory {t.id!r}", any(s.images for s in t.steps))
        if self.mode == "first-error":
            self._grade_first_error(batch)
        elif self.mode == "per-step":
            self._grade_per_step(batch)
        else:
            self._grade_per_action(batch)
        yield from batch

    def _grade_first_error(self, batch: list[Trajectory]) -> None:
        prompts: list[str | RenderedPrompt] = [self._first_error_prompt(t) for t in batch]
        replies, costs, overflow = self._ask(prompts, [f"trajectory {t.id!r}" for t in batch])
        for k, (t, texts, cost) in enumerate(zip(batch, replies, costs)):
            n = len(t.steps)
            if texts is None:
                lab = self._too_long_label(overflow[k], prompts[k])
                for i, s in enumerate(t.steps):
                    s.labels[self.name] = lab if i == 0 else Label(None, None, None, Cost(), self._ref)
                continue
            parsed = [self._parse_index(x, n) for x in texts]
            votes = [v for v in parsed if v is not None]
            raw = "\n---\n".join(x[:_RAW_KEEP] for x in texts)
            head = {"votes": parsed, **self._prompt_extra(prompts[k])}
            if not votes:
                for i, s in enumerate(t.steps):
                    s.labels[self.name] = Label(
                        None, None, "unparseable judge reply: " + raw if i == 0 else None,
                        cost if i == 0 else Cost(), self._ref, head if i == 0 else None,
                    )
                continue
            counts = Counter(votes)
            top = max(counts.values())
            # ties go to the earliest flagged step: the conservative reading
            fe = min((v for v, c in counts.items() if c == top), key=lambda v: (v == -1, v))
            for i, s in enumerate(t.steps):
                score = sum(1 for v in votes if v == -1 or v > i) / len(votes)
                verdict: Verdict | None = "correct" if fe == -1 or i < fe else ("incorrect" if i == fe else None)
                s.labels[self.name] = Label(
                    score, verdict, raw if i == 0 else None, cost if i == 0 else Cost(), self._ref,
                    {**head, "first_error": fe} if i == 0 else None,
                )

    def _grade_per_step(self, batch: list[Trajectory]) -> None:
        prompts: list[str | RenderedPrompt] = []
        where, names = [], []
        for t in batch:
            for i, s in enumerate(t.steps):
                history = "\n\n".join(f"<step_{k}>\n{x.text}\n</step_{k}>" for k, x in enumerate(t.steps[:i]))
                prompts.append(
                    _fill(self.template, problem=_problem(t), history=history or "(none)", step=s.text, index=str(i))
                )
                where.append(s)
                names.append(f"trajectory {t.id!r} step {i}")
        replies, costs, overflow = self._ask(prompts, names) if prompts else ([], [], {})
        for k, (s, texts, cost) in enumerate(zip(where, replies, costs)):
            if texts is None:
                s.labels[self.name] = self._too_long_label(overflow[k], prompts[k])
                continue
            parsed = [parse_boxed_verdict(x) for x in texts]
            votes = [v for v in parsed if v is not None]
            raw = "\n---\n".join(x[:_RAW_KEEP] for x in texts)
            extra = {"votes": parsed, **self._prompt_extra(prompts[k])}
            if not votes:
                s.labels[self.name] = Label(None, None, "unparseable judge reply: " + raw, cost, self._ref, extra)
                continue
            frac = sum(votes) / len(votes)
            verdict: Verdict | None = "correct" if frac > 0.5 else ("incorrect" if frac < 0.5 else None)
            s.labels[self.name] = Label(frac, verdict, raw, cost, self._ref, extra)

    def _grade_per_action(self, batch: list[Trajectory]) -> None:
        rendered: list[RenderedPrompt] = []
        where, names = [], []
        for t in batch:
            for i, s in enumerate(t.steps):
                if s.kind != "action":
                    continue
                name = f"trajectory {t.id!r} step {i}"
                if s.images and self.options.images > 0 and not self.send_images:
                    raise ConfigError(
                        f"{name} has screenshots, but the judge backend {self.backend.name!r} takes text only; "
                        "serve a vision-language model (--backend openai) or judge without the screen: -o images=0"
                    )
                p = render_action(
                    self.template, t, i, history=self.options.history, images=self.image_options,
                    resolver=self.resolver, send_images=self.send_images, where=f"trajectory {t.id!r} step {i} ",
                )
                self.counts["images"] += p.images
                self.counts["images_left_out"] += p.images_left_out
                rendered.append(p)
                where.append(s)
                names.append(name)
        prompts: list[str | RenderedPrompt] = list(rendered)
        replies, costs, overflow = self._ask(prompts, names) if prompts else ([], [], {})
        for k, (s, texts, cost) in enumerate(zip(where, replies, costs)):
            p = rendered[k]
            if texts is None:
                s.labels[self.name] = self._too_long_label(overflow[k], p)
                continue
            parsed = [parse_action_verdict(x) for x in texts]
            votes = [v for v in parsed if v is not None]
            raw = "\n---\n".join(x[:_RAW_KEEP] for x in texts)
            extra: dict[str, Any] = {
                "votes": [None if v is None else v[0] for v in parsed],
                "kinds": [None if v is None else v[1] for v in parsed],
                "images": p.images, "images_left_out": p.images_left_out, **self._prompt_extra(p),
            }
            if not votes:
                s.labels[self.name] = Label(None, None, "unparseable judge reply: " + raw, cost, self._ref, extra)
                continue
            frac = sum(v[0] for v in votes) / len(votes)
            verdict: Verdict | None = "correct" if frac > 0.5 else ("incorrect" if frac < 0.5 else None)
            if verdict == "incorrect":
                kinds = Counter(v[1] or "other" for v in votes if not v[0])
                top = max(kinds.values())
                extra["kind"] = min(k for k, c in kinds.items() if c == top)  # ties: alphabetical, stable
            s.labels[self.name] = Label(frac, verdict, raw, cost, self._ref, extra)
