"""The toolcalc agent world: exact calculator, deterministic replay, ground truth per action,
and the OpenAI chat view."""

from __future__ import annotations

import json

import pytest

from stepsieve import DataError
from stepsieve.worlds import AgentWorld, Task, get_world
from stepsieve.worlds._calculator import CalculatorError, calculate
from stepsieve.worlds.toolcalc import ToolCalcWorld, parse_action

W = ToolCalcWorld()
TASK = Task("t", "Mia has 7 apples. ...", "8", {"start": 7, "ops": [["+", 8], ["*", 3], ["-", 5], ["/", 5]]})
GOOD = ["calculator 7 + 8", "calculator 15 * 3", "calculator 45 - 5", "calculator 40 / 5", "answer 8"]


def test_is_an_agent_world_over_the_arith_tasks() -> None:
    assert isinstance(get_world("toolcalc"), AgentWorld)
    arith = get_world("arith")
    assert [t.id for t in W.sample_tasks(5, 1)] == [t.id for t in arith.sample_tasks(5, 1)]
    for t in W.sample_tasks(30, 2, ops=(2, 8)):
        ref = W.reference(t)
        assert W.first_error(t, ref) == -1 and W.done(ref)
        assert W.check_answer(t, W.parse_answer(W.prompt(t, ref)))


def test_calculator_is_exact_and_safe() -> None:
    assert calculate("12 + 5") == 17
    assert calculate("(2 + 3) * 4 - 6 / 4") == pytest.approx(18.5)
    assert str(W.execute("calculator 7 / 2")) == "7/2"
    assert W.execute("calculator 6 x 7") == "42"
    for bad in ["__import__('os')", "1 / 0", "2 ** 3", "(" * 50 + "1" + ")" * 50, "9" * 40, ""]:
        with pytest.raises(CalculatorError):
            calculate(bad)
    assert W.execute("calculator 1 / 0").startswith("error:")
    assert W.execute("rm -rf /").startswith("error:")


def test_replay_is_deterministic_and_resumes_any_prefix() -> None:
    obs = W.replay(TASK, GOOD)
    assert obs == ["15", "45", "40", "8", "submitted"]
    assert W.replay(TASK, GOOD) == obs
    for k in range(len(GOOD) + 1):
        assert W.replay(TASK, GOOD[:k]) == obs[:k]
        prompt = W.prompt(TASK, GOOD[:k])
        # the prompt of a prefix is the full episode's text cut after that prefix
        assert W.prompt(TASK, GOOD).startswith(prompt)
    assert W.prompt(TASK, GOOD[:1]).endswith("> calculator 7 + 8\n< 15\n")


@pytest.mark.parametrize(
    ("actions", "index", "kind"),
    [
        (GOOD, -1, None),
        (["calculator 8 + 7", *GOOD[1:]], -1, None),
        (["calculator 7 + 9", *GOOD[1:]], 0, "wrong_operand"),
        (["calculator 7 * 8"], 0, "wrong_operation"),
        (["calculator 7 + 8", "calculator 15 - 5"], 1, "skipped_operation"),
        (["calculator 7 + 8", "calculator 15 + 8"], 1, "repeated_operation"),
        (["calculator 7 + 8", "calculator 16 * 3"], 1, "wrong_carry"),
        (["calculator 7 + 8", "answer 15"], 1, "early_answer"),
        ([*GOOD[:4], "answer 9"], 4, "wrong_answer"),
        (["calculator (7 + 8) * 3"], 0, "unparseable"),
        (["search the web"], 0, "unparseable"),
    ],
)
def test_ground_truth_per_action(actions: list[str], index: int, kind: str | None) -> None:
    d = W.diagnose(TASK, actions)
    assert (d.index, d.kind) == (index, kind)


def test_text_view_round_trip() -> None:
    text = W.prompt(TASK, GOOD)
    assert W.split_steps(text) == GOOD
    assert W.parse_answer(text) == "8"
    assert parse_action("> calculator: 3 + 4") == ("calculator", "3 + 4")
    assert parse_action("answer(12)") == ("answer", "12")
    assert parse_action("hello") is None


def test_openai_chat_view() -> None:
    msgs = W.to_chat(TASK, GOOD)
    assert [m["role"] for m in msgs[:4]] == ["system", "user", "assistant", "tool"]
    call = msgs[2]["tool_calls"][0]
    assert call["function"]["name"] == "calculator"
    assert json.loads(call["function"]["arguments"]) == {"expression": "7 + 8"}
    assert msgs[3] == {"role": "tool", "tool_call_id": call["id"], "content": "15"}
    last = msgs[-2]["tool_calls"][0]
    assert last["function"]["name"] == "answer" and json.loads(last["function"]["arguments"]) == {"answer": "8"}
    assert [W.from_tool_call(m["tool_calls"][0]) for m in msgs if m["role"] == "assistant"] == GOOD
    with pytest.raises(DataError):
        W.from_tool_call({"function": {"name": "calculator", "arguments": "{not json"}})
