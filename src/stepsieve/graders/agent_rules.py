"""The ``agent-rules`` grader: model-free checks of agent action steps.

Each check marks an action step ``incorrect`` only on evidence in the log itself; every
other step gets verdict None (the grader abstains: a clean run of a command proves nothing
about whether it was the right command). Precision before recall. The checks:

- **failed call**: the log flags the result as an error (``meta["is_error"]``), the command
  exited non-zero (``meta["returncode"]``; exit 1 of a search or compare command such as
  ``grep``/``diff``/``test`` is an answer, not a failure), or the observation reports an error
  (``error: ...``, a traceback, ``{"error": ...}``: ``rules.tool_error``);
- **repeat**: the same call(s) as the step just before, with the same observation: nothing
  was learnt (``wait``/``screenshot`` actions excepted, waiting is their purpose);
- **no effect**: a computer-use action (click, type, keypress, drag, scroll) whose step shows
  the screen before and after it and the two are the same image (sha256); or the same action
  as the step before whose returned screen is unchanged (same observation and same
  screenshot hashes);
- **malformed arguments**: a tool call whose arguments are not a JSON object;
- **after the end**: an action after the run ended (a ``done`` action, or a call of an ending
  tool: ``end_tools``, or mini-swe-agent's submit command), unless a user turn came after the end.

Actions come from ``step.actions``; a step that has none but keeps an OpenAI tool call in
``meta["tool_call"]`` / ``meta["tool_calls"]`` (the embedded toolcalc world) is read from there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stepsieve._registry import check_options
from stepsieve.graders._plugin import GradeContext, hashed_config, with_options
from stepsieve.graders._protocol import grader_ref
from stepsieve.graders.rules import tool_error
from stepsieve.trajectory import Action, Cost, Label, Step, Trajectory

__all__ = ["AgentRulesGrader", "AgentRulesOptions", "step_actions"]

_NOT_FAILURES = ("grep", "egrep", "fgrep", "rg", "diff", "cmp", "test", "[", "git diff")
_NO_REPEAT = frozenset({"wait", "screenshot"})
_STATEFUL = frozenset({"click", "double_click", "drag", "keypress", "move", "scroll", "type"})
# Actions whose purpose is to change the screen (a mouse move may only hover).
_CHANGES_SCREEN = _STATEFUL - {"move"}
_SUBMIT_MARKERS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")


@dataclass(frozen=True)
class AgentRulesOptions:
    """The ``agent-rules`` grader's options (each check can be turned off)."""

    failed_calls: bool = True  # error results, non-zero exit codes, tracebacks
    repeats: bool = True  # the same call as the step before, with the same observation
    no_effect: bool = True  # a computer-use action that left the screen unchanged
    malformed_arguments: bool = True  # tool-call arguments that are not a JSON object
    after_end: bool = True  # an action after the run ended
    end_tools: str = "submit,finish,answer,done,task_complete,final_answer"  # tools that end a run

    def __post_init__(self) -> None:
        check_options(self, "grader 'agent-rules'")


def step_actions(step: Step) -> list[Action]:
    """A step's actions: ``step.actions``, or the OpenAI tool call(s) kept in its meta."""
    if step.actions:
        return list(step.actions)
    meta = step.meta or {}
    calls = meta.get("tool_calls") or ([meta["tool_call"]] if isinstance(meta.get("tool_call"), dict) else [])
    out = []
    for c in calls if isinstance(calls, list) else []:
        fn = c.get("function") if isinstance(c, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            args = fn.get("arguments")
            out.append(
                Action("tool", name=fn["name"], arguments=args if isinstance(args, str) else json.dumps(args))
            )
    return out


def _key(a: Action) -> tuple[Any, ...]:
    """An action without its call id (two calls with the same content are the same call)."""
    path = tuple((p.x, p.y) for p in a.path) if a.path else None
    keys = tuple(a.keys) if a.keys else None
    return (a.type, a.name, a.arguments, a.x, a.y, a.button, a.text, keys, a.scroll_x, a.scroll_y, path)


def _command(a: Action) -> str:
    try:
        args = json.loads(a.arguments or "")
    except ValueError:
        return ""
    cmd = args.get("command") if isinstance(args, dict) else None
    return cmd.strip() if isinstance(cmd, str) else ""


def _screen(step: Step) -> tuple[Any, ...]:
    """What the step's action returned: its observation and the hashes of the screens after it."""
    links = (step.meta or {}).get("image_links") or []
    return (
        step.observation,
        tuple(i.sha256 for i in step.images if i.role != "before"),
        tuple(str(i) for i in links),
    )


def _unchanged(step: Step) -> bool:
    """True when the step shows the screen before and after its action, and they are the same."""
    before = {i.sha256 for i in step.images if i.role == "before"}
    after = {i.sha256 for i in step.images if i.role == "after"}
    return bool(before) and before == after


class AgentRulesGrader:
    """Model-free checks of action steps (see the module docstring)."""

    Options = AgentRulesOptions

    def __init__(
        self, options: AgentRulesOptions | None = None, *, name: str = "agent-rules", **kw: Any
    ) -> None:
        self.options = with_options(AgentRulesOptions, options, kw, "grader 'agent-rules'")
        self.name = name
        self.config: dict[str, Any] = hashed_config(self.options)
        self._ref = grader_ref(name, self.config)
        self._end_tools = frozenset(t.strip() for t in self.options.end_tools.split(",") if t.strip())

    @classmethod
    def from_options(cls, options: AgentRulesOptions, ctx: GradeContext) -> AgentRulesGrader:
        return cls(options, name=ctx.label or "agent-rules")

    # ---- the checks ----------------------------------------------------------------------

    def _failed(self, step: Step, actions: list[Action]) -> str | None:
        meta = step.meta or {}
        if meta.get("is_error") is True:
            return "the log marks the result as an error"
        rc = meta.get("returncode")
        if isinstance(rc, int) and not isinstance(rc, bool) and rc != 0:
            cmd = _command(actions[0]) if len(actions) == 1 else ""
            if not (rc == 1 and cmd.startswith(_NOT_FAILURES)):
                return f"exit code {rc}"
        err = tool_error(step.observation)
        return f"tool error: {err}" if err is not None else None

    def _malformed(self, actions: list[Action]) -> str | None:
        for a in actions:
            if a.type != "tool" or a.arguments is None or not a.arguments.strip():
                continue
            try:
                value = json.loads(a.arguments)
            except ValueError as e:
                return f"arguments of {a.name} are not valid JSON ({e})"
            if not isinstance(value, dict):
                return f"arguments of {a.name} are not a JSON object"
        return None

    def _ends(self, step: Step, actions: list[Action]) -> bool:
        for a in actions:
            if a.type == "done" or (a.type == "tool" and a.name in self._end_tools):
                return True
            if a.type == "tool" and any(m in (a.arguments or "") for m in _SUBMIT_MARKERS):
                return True
        return False

    def grade_trajectory(self, t: Trajectory) -> list[Label]:
        o = self.options
        labels = []
        ended_at: int | None = None
        prev: tuple[Step, list[Action]] | None = None
        for step in t.steps:
            t0 = time.perf_counter()
            actions = step_actions(step) if step.kind == "action" else []
            reasons: list[str] = []
            if actions:
                if o.after_end and ended_at is not None:
                    reasons.append(f"acts after the run ended at step {ended_at}")
                if o.malformed_arguments and (why := self._malformed(actions)):
                    reasons.append(f"malformed arguments: {why}")
                if o.failed_calls and (why := self._failed(step, actions)):
                    reasons.append(f"failed call: {why}")
                kinds = {a.type for a in actions}
                if o.no_effect and kinds <= _CHANGES_SCREEN and _unchanged(step):
                    reasons.append("no effect: the screen after the action is the screen before it")
                elif prev is not None and (step.observation is not None or step.images):
                    p_step, p_actions = prev
                    same = [_key(a) for a in actions] == [_key(a) for a in p_actions]
                    if same and _screen(step) == _screen(p_step):
                        if o.no_effect and kinds <= _STATEFUL:
                            reasons.append(
                                f"no effect: the same action as step {p_step.index} left the screen unchanged"
                            )
                        elif o.repeats and not kinds & _NO_REPEAT:
                            reasons.append(f"repeat of step {p_step.index} with the same observation")
                if ended_at is None and self._ends(step, actions) and not (step.meta or {}).get("after"):
                    ended_at = step.index
                prev = (step, actions)
            elif step.kind == "action":
                prev = None
            if ended_at is not None and (step.meta or {}).get("after"):
                ended_at = None  # a user turn after the end starts new work
            cost = Cost(seconds=time.perf_counter() - t0)
            if reasons:
                labels.append(Label(0.0, "incorrect", "; ".join(reasons), cost, self._ref))
            else:
                labels.append(
                    Label(None, None, "nothing decisive" if actions else "not an action", cost, self._ref)
                )
        return labels

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        for t in trajectories:
            for s, lab in zip(t.steps, self.grade_trajectory(t), strict=True):
                s.labels[self.name] = lab
            yield t
