"""The ``rules`` grader: execution-grounded checks that need no model.

- Reasoning steps: every claim the step makes (``a op b = c``, chains, ``≈``, inequalities,
  LaTeX with named quantities, mixed numbers, roots...) is recomputed exactly (see
  ``_claims``); a side not understood in full is not read. One false claim makes the step
  ``incorrect``; checked claims that all hold make it ``correct``. The problem and earlier
  steps are context: in a modular or base-n setting false claims are not reported.
- Action steps: an observation that reports a tool error (``error: ...``, a traceback, a
  JSON ``{"error": ...}``) makes the action ``incorrect``; the agent's stated ``thought`` is
  checked like reasoning.
- A step with nothing checkable gets verdict None and score None — never "correct": the
  grader abstains rather than vouch for what it did not check.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from stepsieve._errors import ConfigError
from stepsieve._registry import check_options
from stepsieve.graders._claims import check_claims
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.trajectory import Cost, Label, Step, Trajectory

__all__ = ["RulesGrader", "RulesOptions", "tool_error"]


@dataclass(frozen=True)
class RulesOptions:
    """The ``rules`` grader's options."""

    tool_errors: bool = True  # an action whose observation reports a tool error is incorrect
    claims: bool = True  # recompute the arithmetic claims of reasoning steps and of actions' thoughts
    max_chars: int = 50_000  # a longer text is not read for claims (abstains, says so): ~1.5 s at this size

    def __post_init__(self) -> None:
        check_options(self, "grader 'rules'")
        if self.max_chars < 1:
            raise ConfigError(f"rules max_chars must be >= 1, got {self.max_chars}")

_TOOL_ERROR = re.compile(
    r"^\s*(?:error\b|exception\b|traceback \(most recent call last\))|\b\w*(?:Error|Exception): ",
    re.IGNORECASE,
)


def tool_error(observation: str | None) -> str | None:
    """The error a tool observation reports, or None when it reports none."""
    if not observation:
        return None
    text = observation.strip()
    if text.startswith("{"):
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and obj.get("error"):
            return str(obj["error"])[:200]
    m = _TOOL_ERROR.search(text)
    return text[:200] if m else None


class RulesGrader:
    """Model-free step checks (see the module docstring)."""

    Options = RulesOptions

    def __init__(self, options: RulesOptions | None = None, *, name: str = "rules", **kw: Any) -> None:
        self.options = with_options(RulesOptions, options, kw, "grader 'rules'")
        self.name = name
        self.config: dict[str, Any] = hashed_config(self.options, always=("tool_errors", "claims"))
        self._ref = grader_ref(name, self.config)

    @classmethod
    def from_options(cls, options: RulesOptions, ctx: GradeContext) -> RulesGrader:
        return cls(options, name=ctx.label or "rules")

    def grade_step(self, step: Step, context: str = "") -> Label:
        t0 = time.perf_counter()
        reasons: list[str] = []
        skipped: list[str] = []
        checked = 0
        if self.config["tool_errors"] and step.kind == "action":
            err = tool_error(step.observation)
            if err is not None:  # a clean observation proves nothing about the step: not a check
                reasons.append(f"tool error: {err}")
        if self.config["claims"]:
            text = step.text if step.kind == "reasoning" else (step.thought or "")
            cap = self.options.max_chars
            if len(text) > cap:  # claim checking is linear but slow (~30 kB/s): a 50 MB step took hours
                skipped.append(f"claims not checked: {len(text):,} characters is over max_chars={cap:,} "
                               "(-o max_chars=N to raise it)")
                text = ""
            if len(context) > 2 * cap:  # the problem (its start) and the latest steps decide the setting
                context = context[:cap] + "\n" + context[-cap:]
            for c in check_claims(text, context):
                checked += 1
                if not c.holds:
                    reasons.append(f"false claim '{c.text}': {c.detail}")
        cost = Cost(seconds=time.perf_counter() - t0)
        if reasons:
            return Label(0.0, "incorrect", "; ".join(reasons), cost, self._ref)
        if skipped:  # part of the step was not read: abstain, whatever the rest showed
            return Label(None, None, "; ".join(skipped), cost, self._ref)
        if checked:
            return Label(1.0, "correct", f"{checked} check(s) passed", cost, self._ref)
        return Label(None, None, "nothing checkable", cost, self._ref)

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        for t in trajectories:
            problem = t.task[: self.options.max_chars] if isinstance(t.task, str) else ""
            recent = ""
            for s in t.steps:
                s.labels[self.name] = self.grade_step(s, problem + recent)
                recent = (recent + "\n" + s.text)[-self.options.max_chars :]
            yield t
