"""``GuiWorld``: the shop application as an agent world with exact per-action truth.

The policy reads the task and the current screen's accessibility tree, and writes one action
line per turn in the computer-use vocabulary (``click(412, 230)``, ``type("2")``, ``done()``)::

    Task: Buy two blue mugs.
    Screen: product
    [nav_shop] link "Shop" (48,22) 48x24
    [qty] textbox "Quantity" (156,143) 94x28 value="1"
    [add] button "Add to cart" (78,189) 108x28
    > click(156, 143)

The episode's "answer" is its action script up to ``done()`` (``parse_answer``);
``check_answer`` replays it and asks whether the goal held when ``done()`` was called, so
Monte Carlo grading works unchanged. ``step_truth`` labels every action (not only up to the
first error): ``correct`` when it shortens the planner's remaining plan, otherwise
``incorrect`` with a kind (``_planner.ERROR_KINDS``).
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stepsieve._errors import DataError
from stepsieve.trajectory import Action
from stepsieve.worlds._protocol import Task, world_meta
from stepsieve.worlds.gui._actions import ActionError, format_action, to_action
from stepsieve.worlds.gui._app import State
from stepsieve.worlds.gui._planner import Game, Verdict
from stepsieve.worlds.gui._render import a11y_tree, render_png
from stepsieve.worlds.gui._tasks import GuiKnobs, draw_task_data, goal_text, validate_data

__all__ = ["SYSTEM_PROMPT", "Diagnosis", "GuiWorld", "Transition"]

SYSTEM_PROMPT = (
    "You operate a shop application on a 640x480 screen. Each turn you see the screen (and its "
    "accessibility tree) and emit exactly one computer action: click(x, y), double_click(x, y), "
    "type(\"text\"), keypress(\"KEY\", ...), scroll(x, y, scroll_x, scroll_y), drag(x1, y1, x2, y2), "
    "move(x, y), wait(), or done() once the task is complete."
)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    index: int
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    """One executed action: the state before and after, the parsed action (None when the text
    is not an action) and the error that made it invalid, if any."""

    before: State
    action: Action | None
    after: State
    error: str | None


def _task_id(data: dict[str, Any]) -> str:
    return "gui-" + hashlib.sha1(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]


class GuiWorld:
    """The ``gui`` agent world (see the module docstring)."""

    name = "gui"
    step_kind = "action"
    max_turns = 20  # a rollout's turn cap: plans are at most 16 actions
    policy_backend = "gui-policy"  # the backend of the embedded policy that samples it by default

    def __init__(self) -> None:
        self._games: OrderedDict[str, Game] = OrderedDict()

    # ---- tasks ---------------------------------------------------------------------------

    def game(self, task: Task) -> Game:
        """The task's application and planner (cached, so distances are memoised)."""
        key = task.id
        g = self._games.get(key)
        if g is None:
            g = self._games[key] = Game(task.data)
            if len(self._games) > 256:
                self._games.popitem(last=False)
        else:
            self._games.move_to_end(key)
        return g

    def sample_tasks(self, n: int, seed: int, **knobs: Any) -> list[Task]:
        """``n`` tasks from ``seed``; knob ``steps`` (N or (min, max), default 3-12): the
        length of the planner's shortest plan, ``done`` included."""
        k = GuiKnobs.of(**knobs)
        rng = random.Random(f"gui:{seed}")
        out: list[Task] = []
        while len(out) < n:
            data = draw_task_data(rng)
            plan = Game(data).plan(limit=k.max_steps)
            if plan and k.min_steps <= len(plan) <= k.max_steps:
                out.append(Task(_task_id(data), goal_text(data, data["phrasing"]), "\n".join(map(format_action, plan)),
                                data))
        return out

    def reference(self, task: Task) -> list[str]:
        """A shortest plan's action lines."""
        return [format_action(a) for a in self.game(task).plan()]

    # ---- environment ---------------------------------------------------------------------

    def run(self, task: Task, actions: Sequence[str]) -> list[Transition]:
        """Execute ``actions`` in order from the start; deterministic."""
        g = self.game(task)
        st, out = g.start(), []
        for text in actions:
            try:
                a: Action | None = to_action(text)
            except ActionError as e:
                out.append(Transition(st, None, st, str(e)))
                continue
            assert a is not None
            nxt, err = g.step(st, a)
            out.append(Transition(st, a, nxt, err))
            st = nxt
        return out

    def state(self, task: Task, actions: Sequence[str]) -> State:
        tr = self.run(task, actions)
        return tr[-1].after if tr else self.game(task).start()

    def a11y(self, task: Task, actions: Sequence[str] = ()) -> str:
        """The accessibility tree of the screen after ``actions``."""
        g = self.game(task)
        return a11y_tree(g.spec, g.layout, self.state(task, actions))

    def screenshot(self, task: Task, actions: Sequence[str] = ()) -> bytes:
        """The screen after ``actions`` as PNG bytes (the same bytes on every replay)."""
        g = self.game(task)
        return render_png(g.spec, g.layout, self.state(task, actions))

    def replay(self, task: Task, actions: Sequence[str]) -> list[str]:
        """Per action, what the agent observes next: the accessibility tree (after an error
        line when the action was invalid)."""
        g = self.game(task)
        obs = []
        for tr in self.run(task, actions):
            tree = a11y_tree(g.spec, g.layout, tr.after)
            obs.append(f"error: {tr.error}\n{tree}" if tr.error else tree)
        return obs

    def done(self, actions: Sequence[str]) -> bool:
        """True once the agent has called ``done()``."""
        return any(_is_done(a) for a in actions)

    # ---- text view -----------------------------------------------------------------------

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        """The task, then the current screen's tree; the policy writes ``> action``."""
        return f"Task: {task.problem}\n{self.a11y(task, steps)}\n"

    def split_steps(self, completion: str) -> list[str]:
        """Action lines of a completion (tree and task lines are the environment's)."""
        out = []
        for ln in completion.splitlines():
            s = ln.strip()
            if not s or s.startswith(("Task:", "Screen:", "[", "error:")):
                continue
            out.append(s.removeprefix(">").strip())
        return out

    def parse_answer(self, completion: str) -> str | None:
        """The episode's action script up to its ``done()``; None when it never says done."""
        steps = self.split_steps(completion)
        for i, s in enumerate(steps):
            if _is_done(s):
                return "\n".join(steps[: i + 1])
        return None

    def check_answer(self, task: Task, answer: str | None) -> bool:
        """Whether the script, replayed, called ``done()`` while the goal held."""
        if answer is None:
            return False
        tr = self.run(task, self.split_steps(answer))
        return bool(tr) and self.game(task).success(tr[-1].after)

    # ---- ground truth ----------------------------------------------------------------------

    def verdicts(self, task: Task, steps: Sequence[str]) -> list[Verdict]:
        g = self.game(task)
        return [g.judge(t.before, t.action, t.after, t.error) for t in self.run(task, steps)]

    def step_truth(self, task: Task, steps: Sequence[str]) -> list[tuple[bool, dict[str, Any] | None]]:
        """Every action's truth: ``(correct, extra)``, extra ``{"kind": ...}`` when wrong
        (plus ``"error"`` for an invalid action, ``"already"`` when the goal was already
        unreachable)."""
        out: list[tuple[bool, dict[str, Any] | None]] = []
        for v, t in zip(self.verdicts(task, steps), self.run(task, steps)):
            if v.correct:
                out.append((True, None))
                continue
            extra: dict[str, Any] = {"kind": v.kind}
            if t.error:
                extra["error"] = t.error
            if v.already:
                extra["already"] = True
            out.append((False, extra))
        return out

    def diagnose(self, task: Task, steps: Sequence[str]) -> Diagnosis:
        for i, v in enumerate(self.verdicts(task, steps)):
            if not v.correct:
                return Diagnosis(i, v.kind)
        return Diagnosis(-1)

    def first_error(self, task: Task, steps: Sequence[str]) -> int:
        return self.diagnose(task, steps).index

    def is_complete(self, task: Task, steps: Sequence[str]) -> bool:
        return self.done(steps)

    def task_from_trajectory(self, trajectory: Any) -> Task:
        meta = world_meta(trajectory, self.name)
        d = meta.get("task")
        if not isinstance(d, dict) or not all(k in d for k in ("id", "problem", "answer", "data")):
            tid = getattr(trajectory, "id", "?")
            raise DataError(f"trajectory {tid}: meta.task must hold id, problem, answer, data")
        return Task(str(d["id"]), str(d["problem"]), str(d["answer"]), validate_data(d["data"], "meta.task.data"))

    # ---- machine forms -------------------------------------------------------------------------

    def messages(self, task: Task) -> list[dict[str, Any]]:
        """The system and user messages that set the task."""
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": task.problem}]

    def to_actions(self, action: str, call_id: str) -> list[Action]:
        """The structured form of an action line (empty when the line is not an action)."""
        try:
            a = to_action(action)
        except ActionError:
            return []
        a.id = call_id
        return [a]


def _is_done(text: str) -> bool:
    try:
        return to_action(text).type == "done"
    except ActionError:
        return False
