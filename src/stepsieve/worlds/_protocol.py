"""The World protocol: a task source with an exact checker.

A world produces tasks, tells a policy what to read (``prompt``) and how a completion
splits into steps, checks final answers exactly and, where it can, gives the ground truth
of every step. Agent worlds also replay any action prefix deterministically so rollouts
resume mid-trajectory.

A Trajectory produced from a world carries ``meta["world"]`` (the world's name) and
``meta["task"]`` (the task's structured data), so any later stage can rebuild the Task
with ``world.task_from_trajectory(t)`` and check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from stepsieve._errors import DataError
from stepsieve._registry import Registry
from stepsieve.trajectory import Action

__all__ = ["WORLDS", "AgentWorld", "ComputerActions", "Screenshots", "StatesAnswer", "StepTruth", "Task", "World",
           "world_meta"]


@dataclass(frozen=True, slots=True)
class Task:
    """One task: its id, the problem text a person reads, the exact answer, and the
    structured data the world's checkers need (operations, operands...)."""

    id: str
    problem: str
    answer: str
    data: dict[str, Any] = field(default_factory=dict)


def world_meta(trajectory: Any, world: str) -> dict[str, Any]:
    """The ``meta`` of a trajectory for world ``world``'s ``task_from_trajectory``: a DataError
    if it says it came from another world (one that names none is taken as this world's)."""
    meta = getattr(trajectory, "meta", None) or {}
    if meta.get("world") not in (None, world):
        raise DataError(f"trajectory {trajectory.id} is from world {meta.get('world')!r}, not {world!r}")
    return meta


@runtime_checkable
class World(Protocol):
    name: str

    def sample_tasks(self, n: int, seed: int, **knobs: Any) -> list[Task]:
        """``n`` tasks, a pure function of ``seed`` and the knobs."""
        ...

    def prompt(self, task: Task, steps: Sequence[str] = ()) -> str:
        """The text a policy continues: the task, then the given solution steps."""
        ...

    def split_steps(self, completion: str) -> list[str]:
        """A completion's steps (its final-answer line included, as the last step)."""
        ...

    def parse_answer(self, completion: str) -> str | None:
        """The final answer a completion states, or None when it states none."""
        ...

    def check_answer(self, task: Task, answer: str | None) -> bool:
        ...

    def first_error(self, task: Task, steps: Sequence[str]) -> int:
        """Ground truth: 0-based index of the first wrong step, -1 when all are right."""
        ...

    def task_from_trajectory(self, trajectory: Any) -> Task:
        ...


@runtime_checkable
class AgentWorld(World, Protocol):
    """A world whose steps are actions executed by an environment.

    A policy writes ONE action per turn (generate with stop ``"\n"``); the environment's
    observation is part of the next ``prompt``. So a rollout from a prefix is a loop:
    ``prompt(task, actions)`` -> one action -> until ``done(actions)``
    (``stepsieve.sampling.rollout`` does this, batched, for any world).
    """

    def replay(self, task: Task, actions: Sequence[str]) -> list[str]:
        """Observations of ``actions`` executed in order; deterministic."""
        ...

    def done(self, actions: Sequence[str]) -> bool:
        """True when the episode has ended (the agent submitted its answer)."""
        ...


@runtime_checkable
class StatesAnswer(Protocol):
    """A world that tells whether a single step states the final answer (its answer line),
    where ``parse_answer`` alone would also find numbers inside ordinary steps."""

    def states_answer(self, step: str) -> bool:
        ...


@runtime_checkable
class StepTruth(Protocol):
    """A world that knows the truth of EVERY step, not only up to the first error (an agent
    world whose planner can tell, from any state, whether an action brings the goal closer).
    ``extra`` is the incorrect step's label payload (``{"kind": ...}``), None when correct."""

    def step_truth(self, task: Task, steps: Sequence[str]) -> list[tuple[bool, dict[str, Any] | None]]:
        ...


@runtime_checkable
class Screenshots(Protocol):
    """An agent world that can show its screen: PNG bytes of the screen after ``actions``
    (deterministic, so a replayed prefix gives the same bytes)."""

    def screenshot(self, task: Task, actions: Sequence[str] = ()) -> bytes:
        ...


@runtime_checkable
class ComputerActions(Protocol):
    """An agent world whose action lines have a computer-use machine form (``Action``s in
    the vocabulary of OpenAI's ``computer_call``); empty when the line is not an action."""

    def to_actions(self, action: str, call_id: str) -> list[Action]:
        ...


WORLDS: Registry[Any] = Registry("world", group="stepsieve.worlds")
