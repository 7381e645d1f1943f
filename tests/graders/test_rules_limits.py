"""The rules grader on huge steps: a size cap that abstains and says so (issue 17: a 50 MB
step ran for more than 5 minutes), and claim checking that is linear in the step's length."""

from __future__ import annotations

import time

from stepsieve.graders.rules import RulesGrader
from stepsieve.trajectory import Step, Trajectory

CLAIMS = "We have 12 + 7 = 19 and then 19 * 3 = 57. "


def test_a_step_over_max_chars_abstains_and_says_why():
    big = CLAIMS * (5_000_000 // len(CLAIMS))  # 5 MB; the reported case was 50 MB
    t = Trajectory("t", "Compute.", [Step(0, big), Step(1, "so 2 + 2 = 5")])
    t0 = time.perf_counter()
    (g,) = RulesGrader().grade([t])
    assert time.perf_counter() - t0 < 30  # was hours: quadratic in the step's length
    big_label, next_label = g.steps[0].labels["rules"], g.steps[1].labels["rules"]
    assert big_label.verdict is None and big_label.score is None
    assert "not checked" in big_label.rationale and "max_chars=50,000" in big_label.rationale
    assert next_label.verdict == "incorrect"  # the steps after it are still checked


def test_a_false_claim_in_a_huge_step_is_still_an_error_and_the_cap_is_an_option():
    text = CLAIMS * 2000 + "and 6 * 7 = 43."  # ~84 kB, over the default cap
    (g,) = RulesGrader().grade([Trajectory("t", "x", [Step(0, text)])])
    assert g.steps[0].labels["rules"].verdict is None
    (g,) = RulesGrader(max_chars=200_000).grade([Trajectory("t", "x", [Step(0, text)])])
    label = g.steps[0].labels["rules"]
    assert label.verdict == "incorrect" and "6 * 7 = 43" in label.rationale


def test_the_cap_enters_the_configuration_hash_only_when_set():
    assert RulesGrader().config == RulesGrader(max_chars=50_000).config
    assert RulesGrader(max_chars=10).config != RulesGrader().config
