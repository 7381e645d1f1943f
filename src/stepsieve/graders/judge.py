"""The ``judge`` grader: an LLM reads the steps and says which are wrong.

Two modes (``mode``):

- ``first-error`` (ProcessBench critic): one call per trajectory with the steps tagged
  ``<paragraph_i>``; the reply's last ``\\boxed{k}`` is the first wrong step (-1: none).
  Steps before k are ``correct``, step k ``incorrect``, later steps None.
- ``per-step``: one call per step (problem, earlier steps, the step); the reply's last
  ``\\boxed{correct|incorrect}`` is its verdict.

``votes`` samples k judgements (self-consistency) and takes the majority; a step's
``score`` is the share of parsed votes that call it correct. Parsing is strict: a reply
without a well-formed answer is not a vote, and when no vote parses the verdict is None
with the raw replies kept in ``rationale`` — never a guessed verdict.

Offline default: with no backend, the embedded verifier judges (first-error mode only; its
own prompt format, see ``stepsieve.embedded._formats``: it re-derives each step, marks it,
then writes ``Verdict: k`` or ``Verdict: none``; a reply without that line is unparseable).
``verifier=DIR`` picks another verifier directory (e.g. an older one, whose format its
``config.json`` names as ``verifier_format``). Templates are files a user can override
(``template=``); see ``graders/prompts/README.md``. Trajectory-level calls (first-error
mode) record their whole cost on step 0's label, so summing a label's costs over steps
always gives what the trajectory cost.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from stepsieve._errors import ConfigError
from stepsieve._registry import check_options
from stepsieve.backends import BACKENDS, Backend, ChatBackend
from stepsieve.embedded import model_dir, parse_verdict, verifier_prompt
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.trajectory import Cost, Label, Trajectory, Verdict

__all__ = ["JudgeGrader", "JudgeOptions", "parse_boxed_index", "parse_boxed_verdict"]

Mode = Literal["first-error", "per-step"]
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

    def __post_init__(self) -> None:
        check_options(self, "grader 'judge'")
        if self.votes < 1:
            raise ConfigError(f"judge needs votes >= 1, got {self.votes}")
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


def _load_template(spec: str | None, mode: Mode) -> tuple[str, str]:
    """(template name, text): a built-in by mode, or a user file."""
    if spec is None:
        name = "first_error.txt" if mode == "first-error" else "per_step.txt"
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
        self, backend: Backend | None = None, options: JudgeOptions | None = None, *, name: str = "judge", **kw: Any,
    ) -> None:
        o = self.options = with_options(JudgeOptions, options, kw, "grader 'judge'")
        mode, max_tokens = o.mode, o.max_tokens
        self.embedded = backend is None
        if self.embedded:
            if mode != "first-error":
                raise ConfigError("the embedded verifier answers the first wrong step only: use mode first-error")
            vdir = Path(o.verifier) if o.verifier is not None else model_dir("verifier")
            if not (vdir / "config.json").is_file():
                raise ConfigError(f"{vdir}: not a verifier directory (no config.json)")
            self.verifier_format = int(json.loads((vdir / "config.json").read_text()).get("verifier_format", 1))
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
        self.chat = o.chat if o.chat is not None else (backend.name == "openai" and isinstance(backend, ChatBackend))
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
        return cls(backend, options, name=ctx.label or "judge")

    # ---- model calls ------------------------------------------------------------------

    def _ask(self, prompts: list[str]) -> tuple[list[list[str]], list[Cost]]:
        """``votes`` replies per prompt, and each prompt's share of the cost."""
        before = Cost.from_dict(self.backend.cost.to_dict())
        kw: dict[str, Any] = {
            "n": self.votes, "max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed
        }
        if self.embedded and self.verifier_format == 1:
            kw["stop"] = ["\n"]
        if self.chat:
            assert isinstance(self.backend, ChatBackend)
            gens = self.backend.chat([[{"role": "user", "content": p}] for p in prompts], **kw)
        else:
            gens = self.backend.generate(prompts, **kw)
        after = self.backend.cost
        tin = after.tokens_in - before.tokens_in
        secs = after.seconds - before.seconds
        out_tok = [sum(g.tokens for g in row) for row in gens]
        total = sum(out_tok) or 1
        costs = [
            Cost(self.votes, round(tin / len(prompts)), o, secs * o / total) for o in out_tok
        ]
        return [[g.text for g in row] for row in gens], costs

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

    # ---- grading -----------------------------------------------------------------------

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        batch = list(trajectories)
        if self.mode == "first-error":
            self._grade_first_error(batch)
        else:
            self._grade_per_step(batch)
        yield from batch

    def _grade_first_error(self, batch: list[Trajectory]) -> None:
        replies, costs = self._ask([self._first_error_prompt(t) for t in batch])
        for t, texts, cost in zip(batch, replies, costs):
            n = len(t.steps)
            parsed = [self._parse_index(x, n) for x in texts]
            votes = [v for v in parsed if v is not None]
            raw = "\n---\n".join(x[:_RAW_KEEP] for x in texts)
            if not votes:
                for i, s in enumerate(t.steps):
                    s.labels[self.name] = Label(
                        None, None, "unparseable judge reply: " + raw if i == 0 else None,
                        cost if i == 0 else Cost(), self._ref,
                        {"votes": parsed} if i == 0 else None,
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
                    {"votes": parsed, "first_error": fe} if i == 0 else None,
                )

    def _grade_per_step(self, batch: list[Trajectory]) -> None:
        prompts, where = [], []
        for t in batch:
            for i, s in enumerate(t.steps):
                history = "\n\n".join(f"<step_{k}>\n{x.text}\n</step_{k}>" for k, x in enumerate(t.steps[:i]))
                prompts.append(
                    _fill(self.template, problem=_problem(t), history=history or "(none)", step=s.text, index=str(i))
                )
                where.append(s)
        replies, costs = self._ask(prompts) if prompts else ([], [])
        for s, texts, cost in zip(where, replies, costs):
            parsed = [parse_boxed_verdict(x) for x in texts]
            votes = [v for v in parsed if v is not None]
            raw = "\n---\n".join(x[:_RAW_KEEP] for x in texts)
            if not votes:
                s.labels[self.name] = Label(None, None, "unparseable judge reply: " + raw, cost, self._ref)
                continue
            frac = sum(votes) / len(votes)
            verdict: Verdict | None = "correct" if frac > 0.5 else ("incorrect" if frac < 0.5 else None)
            s.labels[self.name] = Label(frac, verdict, raw, cost, self._ref, {"votes": parsed})
