"""The rules grader on hand-built steps with known answers, and on real ProcessBench steps."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stepsieve.graders import GRADERS, RulesGrader, config_hash
from stepsieve.trajectory import Step, Trajectory

FIXTURE = Path(__file__).parents[1] / "fixtures" / "graders" / "processbench_gsm8k_sample.json"


def verdict(text: str, **kw) -> str | None:
    t = Trajectory("t", "task", [Step(0, text, **kw)])
    (g,) = RulesGrader().grade([t])
    return g.steps[0].labels["rules"].verdict


@pytest.mark.parametrize(
    "text, want",
    [
        ("17 + 5 = 22", "correct"),
        ("17 + 5 = 21", "incorrect"),
        ("So 3 + 4 = 7. Then 7 * 2 = 15.", "incorrect"),  # the second claim is false
        ("48 / 4 = 12 and 12 - 2 = 10", "correct"),
        ("2 + 3 = 5 = 6", "correct"),  # 5 = 6 compares two bare numbers: not read as a claim
        (r"So \(1/3 \times 18 = 6\) flamingos", "correct"),
        (r"\(\frac{1}{3} \cdot 18 = 5\)", "incorrect"),
        (r"\[ \dfrac{3}{4} \times 8 = 6 \]", "correct"),
        ("10 / 3 = 3.33", "correct"),  # rounded to the shown digits
        ("10 / 3 = 3.4", "incorrect"),
        ("1,200 * 2 = 2,400", "correct"),
        ("He pays $5 x 3 = $15.", "correct"),
        ("18 - 6 = 12 + 6 = 18", "correct"),  # a running chain, not 12 = 18
        ("0.7 * 100 = 70%", "correct"),
        (r"\(3(x + 2) = 3x + 6\)", "correct"),  # an identity
        (r"\(3(x + 2) = 3x + 2\)", "incorrect"),  # a contradiction
        (r"\(2x + 3 = 7\)", None),  # a condition: nothing to check
        ("She has 5 apples and buys more.", None),
        ("half of 10 = 5", None),  # "of": the left operand is not all visible
        ("3 times 4 + 2 = 14", None),
        ("Answer: 22", None),
        ("__import__('os').system('echo hi') = 0", None),  # never evaluated
    ],
)
def test_claims(text, want):
    assert verdict(text) == want


def test_nothing_checkable_is_none_never_correct():
    t = Trajectory("t", "task", [Step(0, "Let us think about the apples.")])
    (g,) = RulesGrader().grade([t])
    lab = g.steps[0].labels["rules"]
    assert lab.verdict is None and lab.score is None


def test_tool_errors_in_observations():
    assert verdict("calculator 12 / 0", kind="action", observation="error: division by zero") == "incorrect"
    assert verdict("search x", kind="action", observation='{"error": "timeout"}') == "incorrect"
    assert verdict("run", kind="action", observation="Traceback (most recent call last):\n ...") == "incorrect"
    # a clean observation proves nothing about whether the action was the right one
    assert verdict("calculator 12 + 5", kind="action", observation="17") is None
    # the agent's stated reasoning is checked like a reasoning step
    assert verdict("calculator 12 + 5", kind="action", observation="17", thought="12 + 5 = 18") == "incorrect"


def test_hostile_exponent_is_bounded():
    t0 = time.perf_counter()
    assert verdict("9^9^9^9 + 1 = 2") is None
    assert time.perf_counter() - t0 < 2


def test_label_carries_grader_hash_rationale_and_cost():
    (g,) = RulesGrader().grade([Trajectory("t", "x", [Step(0, "2 * 8 = 15")])])
    lab = g.steps[0].labels["rules"]
    assert lab.grader.name == "rules" and lab.grader.hash == config_hash("rules", RulesGrader().config)
    assert "2 * 8 = 15" in lab.rationale and "16" in lab.rationale
    assert lab.cost.calls == 0 and lab.cost.seconds >= 0
    assert GRADERS.get("rules") is RulesGrader


def test_processbench_sample_flags_only_real_errors():
    items = json.loads(FIXTURE.read_text())
    ts = [Trajectory(x["id"], x["problem"], [Step(i, s) for i, s in enumerate(x["steps"])]) for x in items]
    flagged_ok = flagged_bad = 0
    for x, g in zip(items, RulesGrader().grade(ts)):
        for i, s in enumerate(g.steps):
            if s.labels["rules"].verdict == "incorrect":
                if x["label"] != -1 and i == x["label"]:
                    flagged_ok += 1
                elif x["label"] == -1 or i < x["label"]:
                    flagged_bad += 1  # a step ProcessBench says is right
    assert flagged_ok >= 1 and flagged_bad == 0
