"""Advantages with known values on a hand-built tree."""

import math

import pytest
from helpers_curate import traj

from stepsieve import ConfigError
from stepsieve.curate import CreditOptions, credit_task


def _task():
    # T1: a(4/8 pooled with T2) b(4/4) ; T2: a b2(0/4) ; T3: x(4/4)
    t1 = traj("t1", ["correct", "correct"], texts=["a", "b"], mc=[(4, 3), (4, 4)], correct=True)
    t2 = traj("t2", ["correct", "incorrect"], texts=["a", "b2"], mc=[(4, 1), (4, 0)], correct=False)
    t3 = traj("t3", ["correct"], texts=["x"], mc=[(4, 4)], correct=True)
    return [t1, t2, t3]


def adv(t, what):
    return [s.labels["advantage"].extra[what] for s in t.steps]


def test_progress_is_delta_v_from_the_root_value():
    t1, t2, t3 = credit_task(_task(), CreditOptions(method="progress"))
    root = (0.5 * 2 + 1.0 * 1) / 3
    assert adv(t1, "progress") == pytest.approx([0.5 - root, 0.5])
    assert adv(t2, "progress") == pytest.approx([0.5 - root, -0.5])
    assert adv(t3, "progress") == pytest.approx([1.0 - root])
    assert [s.labels["advantage"].score for s in t1.steps] == pytest.approx([0.5 - root, 0.5])
    assert t1.steps[0].labels["advantage"].extra["kind"] == "advantage"


def test_fork_relative_compares_with_siblings():
    t1, t2, t3 = credit_task(_task(), CreditOptions(method="fork"))
    base_root = (0.5 * 2 + 1.0 * 1) / 3  # visit-weighted over a (2 visits) and x (1)
    assert adv(t1, "fork") == pytest.approx([0.5 - base_root, 0.5])  # b vs mean(b, b2) = 0.5
    assert adv(t2, "fork") == pytest.approx([0.5 - base_root, -0.5])
    assert adv(t3, "fork") == pytest.approx([1.0 - base_root])


def test_single_child_has_zero_fork_advantage():
    t = traj("s", ["correct", "correct"], texts=["a", "b"], mc=[(2, 1), (2, 2)], correct=True)
    (out,) = credit_task([t], CreditOptions(method="fork"))
    assert adv(out, "fork") == [0.0, 0.0]


def test_mixed_normalisation_by_hand():
    alpha = 0.25
    t1, t2, _t3 = credit_task(_task(), CreditOptions(method="mixed", alpha=alpha))
    root = 2 / 3
    progress = [0.5 - root, 0.5, 0.5 - root, -0.5, 1.0 - root]
    rms = math.sqrt(sum(p * p for p in progress) / len(progress))
    rewards = [1.0, 0.0, 1.0]
    m = sum(rewards) / 3
    sd = math.sqrt(sum((r - m) ** 2 for r in rewards) / 3)
    z = [(r - m) / sd for r in rewards]
    want = [alpha * z[0] + (1 - alpha) * progress[0] / rms, alpha * z[0] + (1 - alpha) * progress[1] / rms]
    assert [s.labels["advantage"].score for s in t1.steps] == pytest.approx(want)
    assert t2.steps[1].labels["advantage"].score == pytest.approx(alpha * z[1] + (1 - alpha) * -0.5 / rms)


def test_equal_rewards_give_zero_outcome_term():
    ts = [traj(f"t{i}", ["correct"], texts=[f"s{i}"], mc=[(2, 1)], correct=True) for i in range(2)]
    out = credit_task(ts, CreditOptions(method="mixed", alpha=1.0))
    assert [t.steps[0].labels["advantage"].score for t in out] == [0.0, 0.0]


def test_credit_options_checked():
    with pytest.raises(ConfigError):
        CreditOptions(method="gae")
    with pytest.raises(ConfigError, match="overwrite"):
        CreditOptions(label="mc", name="mc")
