"""The arith world: generator, answer checker and the exact step checker on hand-written
solutions with every error kind, and correct ones in several formats."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError, DataError, Trajectory
from stepsieve.worlds import WORLDS, Task, World, get_world
from stepsieve.worlds.arith import ERROR_KINDS, ArithWorld

W = ArithWorld()
# 7 + 8 = 15; 15 * 3 = 45; 45 - 4 = 41; 41 / 1... (division exact): 40 / 5 below
TASK = Task("t", "Mia has 7 apples. ...", "9", {"start": 7, "ops": [["+", 8], ["*", 3], ["-", 5], ["/", 5], ["+", 1]]})
GOOD = ["7 + 8 = 15", "15 * 3 = 45", "45 - 5 = 40", "40 / 5 = 8", "8 + 1 = 9", "Answer: 9"]


def test_registered_and_protocol() -> None:
    assert isinstance(get_world("arith"), World)
    assert "arith" in WORLDS.names() and "toolcalc" in WORLDS.names()


def test_generator_is_seeded_and_respects_knobs() -> None:
    a = W.sample_tasks(50, 3, ops=(4, 6))
    assert [t.id for t in a] == [t.id for t in W.sample_tasks(50, 3, ops=(4, 6))]
    assert [t.id for t in a] != [t.id for t in W.sample_tasks(50, 4, ops=(4, 6))]
    for t in a:
        assert 4 <= len(t.data["ops"]) <= 6
        ref = W.reference(t)
        assert W.first_error(t, ref) == -1
        assert W.check_answer(t, W.parse_answer("\n".join(ref)))
        values = [int(s.split("= ")[1]) for s in ref[:-1]]
        assert all(1 <= v <= 60 for v in values)
        for _op, b in t.data["ops"]:
            assert str(b) in t.problem
    templates = {t.problem.split(".")[1] for t in W.sample_tasks(200, 0)}
    assert len(templates) > 6  # several phrasings, not one
    with pytest.raises(ConfigError):
        W.sample_tasks(1, 0, ops=(5, 2))
    with pytest.raises(ConfigError):
        W.sample_tasks(1, 0, nonsense=3)


@pytest.mark.parametrize(
    "steps",
    [
        GOOD,
        ["7+8=15", "15*3=45", "45-5=40", "40/5=8", "8+1=9", "Answer: 9"],
        ["7 + 8 = 15.", "15 x 3 = 45", "45 − 5 = 40", "40 ÷ 5 = 8", "8 + 1 = 9.", "The answer is 9."],
        ["Step 1: 7 + 8 = 15", "Step 2: 15 × 3 = 45", "Step 3: 45 - 5 = 40", "4. 40 / 5 = 8", "5) 8 + 1 = 9", "#### 9"],
        ["8 + 7 = 15", "3 * 15 = 45", "45 - 5 = 40", "40 / 5 = 8", "1 + 8 = 9", "answer: 9"],  # commuted + and *
    ],
)
def test_correct_solutions_in_several_formats(steps: list[str]) -> None:
    assert W.first_error(TASK, steps) == -1
    assert W.check_answer(TASK, W.parse_answer("\n".join(steps)))


def _with(i: int, line: str, base: list[str] = GOOD) -> list[str]:
    return [*base[:i], line, *base[i + 1 :]]


@pytest.mark.parametrize(
    ("steps", "index", "kind"),
    [
        (_with(1, "15 * 3 = 44"), 1, "arithmetic"),
        (_with(0, "7 + 8 = 16"), 0, "arithmetic"),
        (_with(1, "15 * 4 = 60"), 1, "wrong_operand"),
        (_with(2, "45 + 5 = 50"), 2, "wrong_operation"),
        (_with(2, "45 * 5 = 225"), 2, "wrong_operation"),
        (["7 + 8 = 15", "15 - 5 = 10", "10 / 5 = 2", "2 + 1 = 3", "Answer: 3"], 1, "skipped_operation"),
        (["7 + 8 = 15", "15 + 8 = 23", "23 * 3 = 69"], 1, "repeated_operation"),
        (_with(2, "46 - 5 = 41"), 2, "wrong_carry"),
        (["7 + 8 = 15", "15 * 3 = 45", "Answer: 45"], 2, "early_answer"),
        (_with(5, "Answer: 10"), 5, "wrong_answer"),
        ([*GOOD, "9 + 1 = 10"], 6, "extra_step"),
        (_with(3, "forty divided by five is eight"), 3, "unparseable"),
        (_with(3, "40 / 5 = "), 3, "unparseable"),
    ],
)
def test_each_error_kind_is_found_at_its_step(steps: list[str], index: int, kind: str) -> None:
    assert kind in ERROR_KINDS
    d = W.diagnose(TASK, steps)
    assert (d.index, d.kind) == (index, kind)
    assert W.first_error(TASK, steps) == index


def test_true_arithmetic_that_does_not_follow_the_task_is_wrong() -> None:
    # 15 * 4 = 60 is true arithmetic, but the task says * 3.
    assert W.first_error(TASK, _with(1, "15 * 4 = 60")) == 1


def test_incomplete_solution_has_no_wrong_step_but_no_answer() -> None:
    assert W.first_error(TASK, GOOD[:3]) == -1
    assert W.parse_answer("\n".join(GOOD[:3])) is None
    assert not W.check_answer(TASK, None)
    assert not W.is_complete(TASK, GOOD[:3]) and W.is_complete(TASK, GOOD)


def test_parsing_never_evaluates_text() -> None:
    hostile = ["__import__('os').system('echo hi') = 15", "7 + 8 = 15; import os"]
    assert W.diagnose(TASK, hostile[:1]).kind == "unparseable"
    assert W.first_error(TASK, hostile[1:]) == 0
    assert W.parse_answer("Answer: 9**99999") is None


def test_prompt_and_split_round_trip() -> None:
    p = W.prompt(TASK, GOOD[:2])
    assert p.startswith("Problem: ") and p.endswith("Solution:\n7 + 8 = 15\n15 * 3 = 45\n")
    assert W.split_steps("\n 7 + 8 = 15 \n\n15 * 3 = 45\n") == GOOD[:2]


def test_task_from_trajectory() -> None:
    meta = {"world": "arith", "task": {"id": "t", "problem": "p", "answer": "9", "data": TASK.data}}
    t = Trajectory("x", "p", [], meta=meta)
    assert W.task_from_trajectory(t).data == TASK.data
    with pytest.raises(DataError, match=r"meta\.task"):
        W.task_from_trajectory(Trajectory("x", "p", [], meta={"world": "arith"}))
    with pytest.raises(DataError, match="toolcalc"):
        W.task_from_trajectory(Trajectory("x", "p", [], meta={**meta, "world": "toolcalc"}))
