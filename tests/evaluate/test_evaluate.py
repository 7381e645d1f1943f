"""The evaluation metrics against values computed by hand."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError
from stepsieve.evaluate import evaluate, expected_calibration_error, processbench
from stepsieve.trajectory import Cost, Label, Step, Trajectory

V = {"c": "correct", "i": "incorrect", "n": None}


def traj(tid: str, split: str, truth: str, pred: str, scores=None, cost=None) -> Trajectory:
    steps = []
    for k, (t, p) in enumerate(zip(truth, pred)):
        labels = {"truth": Label(verdict=V[t])}
        labels["g"] = Label(
            score=None if scores is None else scores[k],
            verdict=V[p],
            cost=cost if (cost is not None and k == 0) else None,
        )
        steps.append(Step(k, f"step {k}", labels=labels))
    return Trajectory(tid, "task", steps, meta={"split": split})


# truth / prediction per step: c = correct, i = incorrect, n = undecided
ITEMS = [
    ("t1", "g", "cin", "cin"),  # truth fe 1, pred 1: hit
    ("t2", "g", "cci", "icc"),  # truth fe 2, pred 0: miss
    ("t3", "g", "ccc", "ccc"),  # truth -1, pred -1: hit
    ("t4", "g", "ccc", "cni"),  # truth -1, pred 2: miss
    ("t5", "g", "ccc", "ncn"),  # truth -1, pred -1 (undecided steps passed over): hit
    ("t6", "m", "inn", "iii"),  # truth fe 0, pred 0: hit
    ("t7", "m", "ccc", "nnn"),  # truth -1, no prediction at all: miss
]


def test_processbench_per_split_and_average():
    rep = evaluate([traj(*it) for it in ITEMS], "g")
    pb = rep["processbench"]
    g, m = pb["splits"]["g"], pb["splits"]["m"]
    assert (g["n_error"], g["n_correct"]) == (2, 3)
    assert g["acc_error"] == pytest.approx(1 / 2)
    assert g["acc_correct"] == pytest.approx(2 / 3)
    assert g["f1"] == pytest.approx(4 / 7)  # 2 * 1/2 * 2/3 / (1/2 + 2/3)
    assert (m["acc_error"], m["acc_correct"], m["f1"]) == (1.0, 0.0, 0.0)
    assert pb["average_f1"] == pytest.approx(2 / 7)


def test_step_level_f1_and_confusion():
    rep = evaluate([traj(*it) for it in ITEMS], "g")
    conf = rep["confusion"]
    assert conf["truth_correct"] == {"pred_correct": 7, "pred_wrong": 2, "pred_none": 6}
    assert conf["truth_wrong"] == {"pred_correct": 1, "pred_wrong": 2, "pred_none": 0}
    st = rep["steps"]
    assert st["f1"] == pytest.approx(14 / 17)
    assert st["negative_f1"] == pytest.approx(4 / 7)
    assert st["prm_score"] == pytest.approx((14 / 17 + 4 / 7) / 2)
    assert st["precision_wrong"] == pytest.approx(0.5)
    assert st["coverage"] == pytest.approx(12 / 18)


def test_strict_reading_of_undecided_steps():
    # t5 "ncn": strict reading has no prediction, so it becomes a miss: acc_correct 1/3
    rep = evaluate([traj(*it) for it in ITEMS], "g", none_as="strict")
    assert rep["processbench"]["splits"]["g"]["acc_correct"] == pytest.approx(1 / 3)


def test_processbench_function_direct():
    out = processbench([3, -1, -1, 0], [3, -1, 1, None])
    s = out["splits"]["all"]
    assert (s["acc_error"], s["acc_correct"]) == (0.5, 0.5)
    assert out["average_f1"] == pytest.approx(0.5)


def test_ece_by_hand():
    out = expected_calibration_error([0.05, 0.15, 0.95, 0.95], [False, True, True, False], bins=10)
    assert out["ece"] == pytest.approx((0.05 + 0.85 + 0.9) / 4)
    assert [b["n"] for b in out["bins"]] == [1, 1, 2]
    assert expected_calibration_error([1.0], [True])["ece"] == 0.0


def test_threshold_selected_on_dev_split_then_applied_to_the_rest():
    # on dev, wrong steps score 0.2-0.3 and right ones 0.6+: the chosen threshold must separate them
    dev = [
        traj("d1", "dev", "ci", "nn", scores=[0.9, 0.3]),
        traj("d2", "dev", "cc", "nn", scores=[0.8, 0.6]),
        traj("d3", "dev", "ic", "nn", scores=[0.2, 0.7]),
    ]
    test = [
        traj("e1", "test", "ci", "nn", scores=[0.65, 0.25]),  # separated: hit
        traj("e2", "test", "cc", "nn", scores=[0.7, 0.5]),  # 0.5 < threshold: predicted wrong: miss
    ]
    rep = evaluate(dev + test, "g", threshold="auto", dev_split="dev")
    thr = rep["threshold"]["value"]
    assert 0.3 < thr <= 0.6
    assert rep["threshold"]["dev_average_f1"] == 1.0
    assert rep["trajectories"] == 2
    s = rep["processbench"]["splits"]
    assert "dev" not in s and s["test"]["acc_error"] == 1.0 and s["test"]["acc_correct"] == 0.0
    assert "calibration" in rep and rep["calibration"]["n"] == 4


def test_threshold_auto_needs_a_dev_split():
    with pytest.raises(ConfigError, match="dev-split"):
        evaluate([traj(*ITEMS[0])], "g", threshold="auto")


def test_cost_per_trajectory_and_missing_label():
    ts = [traj("a", "g", "cc", "cc", cost=Cost(4, 100, 20, 1.0)), traj("b", "g", "ci", "ci", cost=Cost(2, 50, 10, 3.0))]
    rep = evaluate(ts, "g")
    assert rep["cost"]["total"] == {"calls": 6, "tokens_in": 150, "tokens_out": 30, "seconds": 4.0}
    assert rep["cost"]["per_trajectory"]["calls"] == 3
    assert rep["cost"]["per_step_label"]["tokens_out"] == pytest.approx(30 / 4)
    with pytest.raises(ConfigError, match="nope"):
        evaluate(ts, "nope")


def test_against_another_label():
    rep = evaluate([traj(*it) for it in ITEMS[:3]], "truth", against="g")
    # g as the reference: g says t1 fails at 1 (truth agrees), t2 at 0 (truth says 2), t3 never
    assert rep["processbench"]["splits"]["g"]["f1"] == pytest.approx(2 / 3)
