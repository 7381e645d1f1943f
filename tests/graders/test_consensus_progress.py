"""consensus and progress on hand-built labels with known answers."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError, GraderError
from stepsieve.graders.consensus import ConsensusGrader
from stepsieve.graders.progress import ProgressGrader
from stepsieve.graders.rules import RulesGrader
from stepsieve.trajectory import Label, Step, Trajectory

V = {"c": "correct", "i": "incorrect", "n": None}


def traj(tid: str, a: str, b: str, scores=None) -> Trajectory:
    steps = []
    for k, (x, y) in enumerate(zip(a, b)):
        labels = {"mc": Label(score=None if scores is None else scores[k], verdict=V[x]), "judge": Label(verdict=V[y])}
        steps.append(Step(k, f"s{k}", labels=labels))
    return Trajectory(tid, "task", steps)


def test_filter_keeps_only_agreeing_first_errors():
    ts = [
        traj("same-error", "cci", "cci"),  # both say step 2: kept
        traj("both-clean", "ccc", "ccc"),  # both -1: kept
        traj("differ", "cic", "cci"),  # 1 vs 2: dropped
        traj("undecided", "ccc", "nnn"),  # judge has no prediction: dropped
    ]
    g = ConsensusGrader("mc", "judge")
    out = list(g.grade(ts))
    assert [t.id for t in out] == ["same-error", "both-clean"]
    assert g.keep_rate == 0.5
    assert [s.labels["consensus"].verdict for s in out[0].steps] == ["correct", "correct", "incorrect"]
    assert [s.labels["consensus"].verdict for s in out[1].steps] == ["correct"] * 3


def test_label_mode_keeps_all_and_marks_disagreement():
    ts = [traj("differ", "cic", "cci", scores=[1.0, 0.0, 0.5])]
    g = ConsensusGrader("mc", "judge", mode="label")
    (t,) = g.grade(ts)
    labs = [s.labels["consensus"] for s in t.steps]
    assert [lab.verdict for lab in labs] == ["correct", None, None]
    assert labs[0].extra == {"agree": False, "first_errors": [1, 2]}
    assert labs[0].score == 1.0
    assert g.keep_rate == 0.0


def test_consensus_runs_inner_graders():
    t = Trajectory("t", "x", [Step(0, "2 + 2 = 4"), Step(1, "4 * 3 = 13")])
    t.steps[0].labels["truth"] = Label(verdict="correct")
    t.steps[1].labels["truth"] = Label(verdict="incorrect")
    (out,) = ConsensusGrader(RulesGrader(), "truth").grade([t])
    assert out.first_error("consensus") == 1


def test_consensus_errors():
    with pytest.raises(ConfigError):
        ConsensusGrader("mc", "mc")
    t = Trajectory("t", "x", [Step(0, "a", labels={"mc": Label(1.0, "correct")})])
    with pytest.raises(GraderError, match="judge"):
        list(ConsensusGrader("mc", "judge").grade([t]))


def test_progress_advantages_with_and_without_root():
    t = traj("p", "ccii", "cccc", scores=[0.75, 0.5, 0.0, 0.0])
    t.meta["mc_root"] = {"n": 4, "n_correct": 2}
    (g,) = ProgressGrader().grade([t])
    labs = [s.labels["progress"] for s in g.steps]
    assert [lab.score for lab in labs] == [0.25, -0.25, -0.5, 0.0]
    assert [lab.verdict for lab in labs] == ["correct", "incorrect", "incorrect", "neutral"]
    assert all(lab.extra["kind"] == "advantage" for lab in labs)

    t2 = traj("q", "cci", "ccc", scores=[0.5, None, 0.0])  # first-error mode leaves step 1 unprobed
    (g2,) = ProgressGrader().grade([t2])
    assert [s.labels["progress"].score for s in g2.steps] == [None, None, None]
    (g3,) = ProgressGrader(root=1.0, name="p2").grade([traj("r", "cc", "cc", scores=[0.5, 1.0])])
    assert [s.labels["p2"].score for s in g3.steps] == [-0.5, 0.5]


def test_progress_needs_mc_label():
    with pytest.raises(GraderError, match="mc"):
        list(ProgressGrader().grade([Trajectory("t", "x", [Step(0, "a")])]))
