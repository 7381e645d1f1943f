"""The mc grader's orchestration on scripted backends with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stepsieve import ConfigError
from stepsieve.graders.mc import MCGrader

sys.path.insert(0, str(Path(__file__).parent))
from _fakes import ScriptedBackend, ToyWorld, probed_steps, toy  # noqa: E402

WRONG = ["a", "b", "c", "BAD", "d", "e", "f", "Answer: wrong"]  # first error at 3


def labels(t, name="mc"):
    return [s.labels[name] for s in t.steps]


def test_every_step_probes_every_prefix_but_the_answer():
    be = ScriptedBackend()
    (t,) = MCGrader(be, ToyWorld(), n=4).grade([toy("t", WRONG)])
    assert probed_steps(be.prompts) == [0, 1, 2, 3, 4, 5, 6]
    labs = labels(t)
    assert [lab.score for lab in labs] == [1, 1, 1, 0, 0, 0, 0, 0]
    assert [lab.verdict for lab in labs][:4] == ["correct", "correct", "correct", "incorrect"]
    assert labs[0].extra == {"n": 4, "n_correct": 4}
    assert labs[-1].extra == {"n": 1, "n_correct": 0, "from": "outcome"} and labs[-1].cost.calls == 0
    assert labs[0].cost.calls == 4 and labs[0].cost.tokens_out == 12
    assert t.first_error("mc") == 3


def test_first_error_binary_search_probe_order():
    be = ScriptedBackend()
    g = MCGrader(be, ToyWorld(), n=4, mode="first-error")
    (t,) = g.grade([toy("t", WRONG)])
    # lo=0, hi=7 (the wrong answer, free): mid 3 -> 0 (left), mid 1 -> >0 (right), mid 2 -> right
    assert probed_steps(be.prompts) == [3, 1, 2]
    labs = labels(t)
    assert [lab.verdict for lab in labs] == ["correct"] * 3 + ["incorrect", None, None, None, "incorrect"]
    assert [lab.score for lab in labs] == [None, 1.0, 1.0, 0.0, None, None, None, 0.0]
    assert t.first_error("mc") == 3


@pytest.mark.parametrize("bad", range(8))
def test_first_error_agrees_with_every_step_at_every_position(bad):
    steps = [f"s{i}" for i in range(8)] + ["Answer: wrong"]
    steps[bad] = "BAD"
    fe = MCGrader(ScriptedBackend(), ToyWorld(), n=2, mode="first-error")
    ev = MCGrader(ScriptedBackend(), ToyWorld(), n=2, name="mc")
    (a,) = fe.grade([toy("t", steps)])
    (b,) = ev.grade([toy("t", steps)])
    assert a.first_error("mc") == b.first_error("mc") == bad
    assert fe.probes <= 4 < ev.probes == 8  # ceil(log2 9) vs every non-answer prefix


def test_first_error_skips_trajectories_with_a_right_answer():
    be = ScriptedBackend()
    (t,) = MCGrader(be, ToyWorld(), n=4, mode="first-error").grade([toy("t", ["a", "b", "Answer: right"])])
    assert be.prompts == []
    assert [lab.verdict for lab in labels(t)] == ["correct"] * 3
    assert t.first_error("mc") == -1


def test_unfinished_trajectory_probes_its_last_prefix():
    be = ScriptedBackend()
    (t,) = MCGrader(be, ToyWorld(), n=2, mode="first-error").grade([toy("t", ["a", "BAD", "c"])])
    assert probed_steps(be.prompts) == [2, 1, 0]
    assert t.first_error("mc") == 1


def test_soft_values_keep_rollouts_and_hard_verdicts():
    be = ScriptedBackend(fail_first=3)  # 1 of 4 samples succeeds from a good prefix
    (t,) = MCGrader(be, ToyWorld(), n=4, keep_rollouts=True).grade([toy("t", ["a", "Answer: right"])])
    lab = t.steps[0].labels["mc"]
    assert lab.score == 0.25 and lab.verdict == "correct"
    assert [r["correct"] for r in lab.extra["rollouts"]] == [False, False, False, True]
    assert lab.extra["rollouts"][3]["text"] == "more\nAnswer: right"


def test_shared_prefixes_are_probed_once_per_batch():
    be = ScriptedBackend()
    ts = [toy("x", ["a", "b", "Answer: right"]), toy("y", ["a", "c", "Answer: right"]), toy("z", ["a", "b", "Answer: wrong"], task="other")]
    out = list(MCGrader(be, ToyWorld(), n=2).grade(ts))
    # task q: prefixes "a", "a b", "a c" (3 probes); task "other": "a", "a b" (2 probes)
    assert len(be.prompts) == 5
    y0 = out[1].steps[0].labels["mc"]
    assert y0.extra.get("shared") is True and y0.cost.calls == 0 and y0.score == 1.0
    assert out[0].steps[0].labels["mc"].cost.calls == 2


def test_root_rollouts_recorded_for_progress():
    be = ScriptedBackend(fail_first=1)
    (t,) = MCGrader(be, ToyWorld(), n=4, root=True).grade([toy("t", ["a", "Answer: right"])])
    assert t.meta["mc_root"] == {"n": 4, "n_correct": 3}


def test_labels_are_stamped_and_config_checked():
    g = MCGrader(ScriptedBackend(), ToyWorld(), n=3, mode="first-error")
    (t,) = g.grade([toy("t", WRONG)])
    assert t.steps[0].labels["mc"].grader.hash == g._ref.hash
    assert g.config["n"] == 3 and g.config["world"] == "toy"
    with pytest.raises(ConfigError):
        MCGrader(ScriptedBackend(), ToyWorld(), mode="binary")
