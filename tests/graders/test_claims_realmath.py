"""The claim checker on real-math notation: every misreading seen on ProcessBench is a case,
plus competition-style LaTeX (fractions, roots, binomials, modular arithmetic, sets,
intervals). ``None`` = the grader abstains (nothing it could read in full)."""

from __future__ import annotations

import pytest

from stepsieve.graders import RulesGrader
from stepsieve.graders._claims import check_claims
from stepsieve.trajectory import Step, Trajectory


def verdict(text: str, task: str = "task") -> str | None:
    (g,) = RulesGrader().grade([Trajectory("t", task, [Step(0, text)])])
    return g.steps[0].labels["rules"].verdict


@pytest.mark.parametrize(
    "text, want",
    [
        # the misreadings reported in issue 16 (each was flagged "incorrect" before)
        ("So D - 8 = 60 - 8. This simplifies to D - 8 = 52.", None),
        (r"\[ \text{Alyana's Age} = \text{Chenny's Age} - 4 = 10 - 4 = 6 \]", "correct"),
        (r"\( \frac{20}{7} = 2\frac{6}{7} \)", "correct"),
        (r"\( r_i = i + 1000 \)", None),
        (r"\( f(0) = 6 \)", None),
        (r"\( \sqrt[3]{3} = 3^{1/3} \)", "correct"),
        (r"\[ x = 0 \quad \text{or} \quad x = \frac{36}{5} \]", None),
        ("Value of Juan's house = Value of Herb's house - $22,800 = $76,000 - $22,800 = $53,200.", "correct"),
        ("(A - 4) = 52 / 2. This simplifies to (A - 4) = 26.", None),
        # a wrong link in a chain with names is still caught
        (r"\[ \text{Anne's Age} = \text{Alyana's Age} + 2 = 6 + 2 = 9 \]", "incorrect"),
        (r"\( 2\frac{6}{7} = \frac{19}{7} \)", "incorrect"),
        (r"\( \sqrt[3]{8} = 3 \cdot 1 \)", "incorrect"),
        # named quantities on either side, units, percentages
        (r"\( 5 \text{ apples} + 3 \text{ apples} = 8 \text{ apples} \)", "correct"),
        (r"\( 2 \text{ hours} \times 60 = 120 \text{ minutes} \)", "correct"),
        (r"\( 3 \text{ dozen} + 6 = 42 \)", None),  # a scaling unit: not read
        (r"\( \frac{1}{2} \text{ of } 10 = 5 \)", None),
        ("50 * 20% = 10", "correct"),
        ("100% - 20% = 80%", "correct"),
        ("50 + 20% = 60", None),  # ambiguous: not read
        # disjunctions and lists: split, never joined
        (r"\( x = 1, \ y = 2 + 3 = 5 \)", "correct"),
        ("x = 0 or x = 36/5", None),
        (r"\( a_1 = 3, a_2 = 3 + 2 = 6 \)", "incorrect"),
        # chains, approximations, rounding, inequalities
        (r"\( 2^{10} = 1024 = 2 \cdot 512 \)", "correct"),
        (r"\( \frac{22}{7} \approx 3.14 \)", "correct"),
        (r"\( \sqrt{2} \approx 1.41 \)", "correct"),
        (r"\( \pi \cdot 3^2 \approx 28.3 \)", "correct"),
        ("1000 / 7 ≈ 140", "correct"),
        ("2 / 3 = 0.66", "correct"),  # truncated, not wrong
        ("10 / 3 = 3.4", "incorrect"),
        ("33.33 * 3 = 100", "correct"),  # computed from a rounded value
        (r"\( \frac{22}{7} \approx 4.1 \)", "incorrect"),
        (r"\( 2 \cdot 3 > 5 \)", "correct"),
        (r"\( 2 \cdot 3 < 5 \)", "incorrect"),
        (r"\( 0 < x < 1 \)", None),
        # competition-style LaTeX
        (r"\( \binom{5}{2} = \frac{5 \cdot 4}{2} = 10 \)", "correct"),
        (r"\( \dbinom{6}{3} = 15 \)", "incorrect"),  # it is 20
        (r"\( \binom{6}{3} = 2 \cdot 10 \)", "correct"),
        (r"\( 5! = 120 = 2 \cdot 60 \)", "correct"),
        (r"\( \frac{\frac{1}{2}}{3} = \frac{1}{6} \)", "correct"),
        (r"\( (x+1)^2 = x^2 + 2x + 1 \)", "correct"),
        (r"\( 90^\circ - 30^\circ = 60^\circ \)", "correct"),
        (r"\( |A \cup B| = |A| + |B| - |A \cap B| = 5 + 3 - 2 = 6 \)", "correct"),
        (r"\( A = \{1, 2, 3\} \), so \( |A| = 3 \)", None),
        (r"\( x \in [0, 1) \)", None),
        (r"\( \sin 30^\circ = \frac{1}{2} \)", None),
        (r"\( 2^{100} = 16^{25} = 6^{25} \equiv 6 \pmod{10} \)", None),  # congruence written with =
        (r"\( 7 \cdot 8 = 56 = 1 \pmod{11} \)", "correct"),
        ("In base 8, 7 + 1 = 10.", None),
        ("The arrangements number 4 * 3 * 2 * 1 = 4!", None),  # "4!" is not 4
        ("At 10:30 + 2 = 12:30 it ends.", None),
        (r"\( 3(x + 2) = 3x + 6 \)", "correct"),
        (r"\( i^2 = -1 \)", None),
        (r"\( e^{i\pi} = -1 \)", None),
    ],
)
def test_real_math(text, want):
    assert verdict(text) == want


def test_modular_context_comes_from_the_problem():
    step = r"\( 3^6 = 1 \cdot 1 \)"
    assert verdict(step) == "incorrect"
    assert verdict(step, task="Find the remainder when 3^600 is divided by 7.") is None


def test_check_claims_keeps_its_signature():
    assert [c.holds for c in check_claims("2 + 2 = 4")] == [True]
