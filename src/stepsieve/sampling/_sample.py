"""Sample trajectories from a world with a policy backend, labelled with the exact truth.

Every step gets a Label named ``truth`` from the world's checker:

- steps before the first error: verdict ``correct`` (score 1.0);
- the first wrong step: verdict ``incorrect`` (score 0.0), ``extra={"kind": <error kind>}``;
- steps after the first error: verdict ``None`` (score None) — process supervision stops at
  the first error (the ProcessBench convention), and a later step's "truth" would depend on
  which wrong value one chooses to carry.

A world that knows the truth of every step (``StepTruth``: the ``gui`` world's planner judges
each action from the state it was taken in) labels every step instead, after the first error
too. Action steps carry their machine form (``Step.actions``: a tool call, or a computer-use
action of a ``ComputerActions`` world) and, for a world with ``Screenshots`` and a
``MediaStore``, the screen before and after each action as ``Step.images``.

The outcome is the parsed final answer and whether it is right; a completion that never
states an answer has ``outcome.answer = None`` and ``correct = False``. Trajectories carry
``meta["world"]``, ``meta["task"]`` (so graders rebuild the task), the seed and the sampler.

Determinism: the backend's sample j of a prompt is a function of (prompt, seed, j); agent
turns after the first are seeded from (seed, j, turn). So a fixed seed gives the same
trajectories, however the work is batched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import msgspec

from stepsieve._errors import ConfigError
from stepsieve.backends import Backend
from stepsieve.media import MediaStore
from stepsieve.trajectory import Action, GraderRef, Label, MediaRef, Outcome, Step, Trajectory
from stepsieve.worlds import AgentWorld, ComputerActions, Screenshots, StepTruth, Task, World, rollout

__all__ = ["TRUTH", "label_truth", "rollout", "sample", "to_trajectory"]

TRUTH = "truth"
_TRUTH_REF = GraderRef(TRUTH, "exact")


# Optional world capabilities this module uses when a world has them.
class Diagnosis(Protocol):
    @property
    def index(self) -> int:  # first wrong step, -1 when none
        ...

    @property
    def kind(self) -> str | None:  # why it is wrong
        ...


@runtime_checkable
class Diagnoses(Protocol):
    """A world that says where a solution first goes wrong *and why*."""

    def diagnose(self, task: Task, steps: Sequence[str]) -> Diagnosis:
        ...


@runtime_checkable
class ChatTasks(Protocol):
    """A world whose tasks open as chat messages (an agent's system + user turns)."""

    def messages(self, task: Task) -> list[dict[str, Any]]:
        ...


@runtime_checkable
class ToolCalls(Protocol):
    """An agent world whose actions also have a machine form (an OpenAI tool call)."""

    def to_tool_call(self, action: str, call_id: str) -> dict[str, Any]:
        ...


def label_truth(world: World, task: Task, steps: Sequence[str]) -> list[Label]:
    """The ``truth`` label of every step (see the module docstring)."""
    if isinstance(world, StepTruth):
        return [Label(1.0, "correct", grader=_TRUTH_REF) if ok else Label(0.0, "incorrect", grader=_TRUTH_REF, extra=x)
                for ok, x in world.step_truth(task, steps)]
    if isinstance(world, Diagnoses):
        d = world.diagnose(task, steps)
        first, kind = d.index, d.kind
    else:
        first, kind = world.first_error(task, steps), None
    labels = []
    for i in range(len(steps)):
        if first < 0 or i < first:
            labels.append(Label(1.0, "correct", grader=_TRUTH_REF))
        elif i == first:
            labels.append(Label(0.0, "incorrect", grader=_TRUTH_REF, extra={"kind": kind} if kind else None))
        else:
            labels.append(Label(None, None, grader=_TRUTH_REF))
    return labels


def _action_of(call: dict[str, Any]) -> Action:
    """The Action of an OpenAI tool call (``{"id", "function": {"name", "arguments"}}``)."""
    fn = call["function"]
    return Action("tool", name=fn["name"], arguments=fn["arguments"], id=call.get("id"))


def _task_dict(task: Task) -> dict[str, Any]:
    return {"id": task.id, "problem": task.problem, "answer": task.answer, "data": task.data}


def _screens(world: Screenshots, task: Task, steps: Sequence[str], store: MediaStore) -> list[list[MediaRef]]:
    """Per action, the screen before and after it (n+1 screenshots for n actions)."""
    refs = [store.put(world.screenshot(task, steps[:k])) for k in range(len(steps) + 1)]
    return [[msgspec.structs.replace(refs[i], role="before"), msgspec.structs.replace(refs[i + 1], role="after")]
            for i in range(len(steps))]


def to_trajectory(world: World, task: Task, steps: list[str], *, traj_id: str, meta: dict[str, Any],
                  media: MediaStore | None = None) -> Trajectory:
    """A Trajectory of ``steps`` on ``task`` with ``truth`` labels and the outcome; with a
    ``media`` store, a ``Screenshots`` world's screens before and after each action."""
    agent = isinstance(world, AgentWorld)
    if agent and not isinstance(world, ToolCalls | ComputerActions):
        raise ConfigError(f"agent world {world.name!r} has neither to_tool_call(action, call_id) nor to_actions")
    labels = label_truth(world, task, steps)
    obs: Sequence[str | None] = world.replay(task, steps) if isinstance(world, AgentWorld) else [None] * len(steps)
    images = _screens(world, task, steps, media) if agent and media is not None and isinstance(world, Screenshots) \
        else [[] for _ in steps]
    out_steps = []
    for i, (s, lab, o) in enumerate(zip(steps, labels, obs)):
        st = Step(i, s, "action" if agent else "reasoning", observation=o, labels={TRUTH: lab}, images=images[i])
        if agent and isinstance(world, ComputerActions):
            st.actions = world.to_actions(s, f"call_{i}")
        elif agent and isinstance(world, ToolCalls):
            st.actions = [_action_of(world.to_tool_call(s, f"call_{i}"))]
        out_steps.append(st)
    if not out_steps:  # the policy wrote nothing: keep the record, one empty wrong step
        out_steps = [Step(0, "", "action" if agent else "reasoning",
                          labels={TRUTH: Label(0.0, "incorrect", grader=_TRUTH_REF, extra={"kind": "empty"})})]
    text = "\n".join(steps)
    answer = world.parse_answer(text)
    correct = bool(world.check_answer(task, answer))
    return Trajectory(
        traj_id,
        world.messages(task) if agent and isinstance(world, ChatTasks) else task.problem,
        out_steps,
        Outcome(answer, correct, 1.0 if correct else 0.0),
        reference=task.answer,
        meta={"world": world.name, "task": _task_dict(task), **meta},
    )


def sample(
    world: World,
    backend: Backend,
    n: int,
    seed: int = 0,
    *,
    temperature: float = 1.0,
    samples_per_task: int = 1,
    knobs: dict[str, Any] | None = None,
    batch_size: int = 64,
    max_tokens: int | None = None,
    tasks: Sequence[Task] | None = None,
    media: MediaStore | None = None,
    max_turns: int | None = None,
) -> Iterator[Trajectory]:
    """Yield ``n`` tasks x ``samples_per_task`` trajectories sampled from ``backend``.

    Tasks come from ``world.sample_tasks(n, seed, **knobs)`` unless given. Work is batched
    ``batch_size`` tasks at a time; the result does not depend on ``batch_size``. ``media``:
    where a ``Screenshots`` world's screens go (``MediaStore.for_output(out)``); None: no
    images. ``max_turns``: an agent's turn cap (default: the world's ``max_turns``, else 12).
    """
    if tasks is None:
        tasks = world.sample_tasks(n, seed, **(knobs or {}))
    agent = isinstance(world, AgentWorld)
    mt = max_tokens if max_tokens is not None else (48 if agent else 200)
    turns = max_turns if max_turns is not None else int(getattr(world, "max_turns", 12))
    base_meta = {"seed": seed, "temperature": temperature, "sampler": getattr(backend, "model", "?")}
    for start in range(0, len(tasks), batch_size):
        chunk = list(tasks[start:start + batch_size])
        outs = rollout(world, backend, [(t, ()) for t in chunk], n=samples_per_task, seed=seed,
                       temperature=temperature, max_tokens=mt, max_turns=turns)
        for t, row in zip(chunk, outs):
            for j, (steps, ntok) in enumerate(row):
                yield to_trajectory(world, t, steps, traj_id=f"{world.name}:{t.id}:s{seed}:{j}",
                                    meta={**base_meta, "sample": j, "tokens_out": ntok}, media=media)
