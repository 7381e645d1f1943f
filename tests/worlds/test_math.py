"""The ``math`` world (reference answers, math-verify) and the runtime-checkable protocols."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError
from stepsieve._errors import GraderError
from stepsieve.trajectory import Step, Trajectory
from stepsieve.worlds import WORLDS, AgentWorld, StatesAnswer, Task, World, get_world
from stepsieve.worlds.math import MathWorld


def test_math_is_a_registered_world_checked_with_math_verify():
    w = get_world("math")
    assert isinstance(w, MathWorld) and WORLDS.get("math") is MathWorld
    task = Task("t", "What is 1/2 + 1/4?", "\\frac{3}{4}")
    assert w.check_answer(task, w.parse_answer("So the sum is \\boxed{0.75}."))
    assert not w.check_answer(task, w.parse_answer("\\boxed{\\frac{1}{2}}"))
    assert not w.check_answer(task, None)
    assert w.prompt(task, ["a", "b"]) == "What is 1/2 + 1/4?\n\na\n\nb\n\n"
    assert w.split_steps("a\n\nb\n\n\n") == ["a", "b"]


def test_math_world_needs_reference_answers_and_has_no_task_source():
    w = MathWorld()
    t = Trajectory("x", [{"role": "user", "content": "2+2?"}], [Step(0, "4")], reference="4")
    assert w.task_from_trajectory(t) == Task("x", "2+2?", "4")
    with pytest.raises(GraderError, match="reference answer"):
        w.task_from_trajectory(Trajectory("y", "2+2?", [Step(0, "4")]))
    with pytest.raises(ConfigError, match="no task source"):
        w.sample_tasks(1, seed=0)


def test_protocols_are_runtime_checkable():
    arith, tool, math = get_world("arith"), get_world("toolcalc"), get_world("math")
    assert all(isinstance(w, World) for w in (arith, tool, math))
    assert isinstance(tool, AgentWorld) and not isinstance(arith, AgentWorld) and not isinstance(math, AgentWorld)
    assert isinstance(math, StatesAnswer)
    assert math.states_answer("so \\boxed{4}") and not math.states_answer("2 + 2 = 4")
