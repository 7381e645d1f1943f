"""The mc grader's orchestration on scripted backends with known answers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stepsieve import ConfigError
from stepsieve.backends._protocol import Generation
from stepsieve.graders.mc import MCGrader, extend_seed
from stepsieve.trajectory import Cost

sys.path.insert(0, str(Path(__file__).parent))
from _fakes import ScriptedBackend, ToyWorld, probed_steps, toy

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
    ts = [
        toy("x", ["a", "b", "Answer: right"]),
        toy("y", ["a", "c", "Answer: right"]),
        toy("z", ["a", "b", "Answer: wrong"], task="other"),
    ]
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


# ---- robustness options: threshold, extend, confirm -------------------------------------


class RateBackend(ScriptedBackend):
    """Like ScriptedBackend, plus: from a prefix ending at a step "HARD" the policy always
    fails (it cannot do the next operation, though the trajectory did); a prefix holding
    "LUCKY" recovers in 1 sample of 8 (a compensating error); samples drawn with the seed
    of ``extend`` rollouts succeed from "HARD" (the estimate was borderline, not zero)."""

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        self.prompts += list(prompts)
        out = []
        for p in prompts:
            last = p.rstrip("\n").rsplit("\n", 1)[-1]
            row = []
            for j in range(n):
                if "BAD" in p:
                    ok = False
                elif "LUCKY" in p:
                    ok = j % 8 == 0
                elif last == "HARD":
                    ok = seed == extend_seed(0)
                else:
                    ok = True
                row.append(Generation("more\nAnswer: " + ("right" if ok else "wrong"), 3))
            out.append(row)
        self.cost = self.cost + Cost(len(prompts), 0, 3 * n * len(prompts), 0.01)
        return out


HARD = ["a", "b", "c", "HARD", "d", "BAD", "Answer: wrong"]  # true first error at 5


def test_confirm_refutes_a_dead_end_whose_right_neighbour_recovers():
    plain = MCGrader(RateBackend(), ToyWorld(), n=4, mode="first-error", name="p")
    (t,) = plain.grade([toy("t", HARD)])
    assert t.first_error("p") == 3  # fooled: the policy cannot go on from "HARD"
    be = RateBackend()
    (t,) = MCGrader(be, ToyWorld(), n=4, mode="first-error", confirm=True).grade([toy("t", HARD)])
    # bisection 3 (dead), 1, 2 (alive); confirm 4 is alive -> search on in [5, 6]: 5 dead; 6 known dead
    assert probed_steps(be.prompts) == [3, 1, 2, 4, 5]
    labs = labels(t)
    assert t.first_error("mc") == 5
    assert labs[3].score == 0.0 and labs[3].verdict == "correct" and labs[3].extra["refuted"] is True
    assert [lab.verdict for lab in labs] == ["correct"] * 5 + ["incorrect", "incorrect"]


def test_confirm_in_every_step_mode_uses_longer_prefixes():
    (t,) = MCGrader(RateBackend(), ToyWorld(), n=4, confirm=True).grade([toy("t", HARD)])
    assert t.first_error("mc") == 5
    (t,) = MCGrader(RateBackend(), ToyWorld(), n=4).grade([toy("t", HARD)])
    assert t.first_error("mc") == 3  # Math-Shepherd's per-prefix hard label


def test_threshold_flags_a_prefix_that_recovers_only_by_luck():
    steps = ["a", "LUCKY", "b", "c", "Answer: wrong"]  # 1 of 8 rollouts compensates after "LUCKY"
    (t,) = MCGrader(RateBackend(), ToyWorld(), n=8, mode="first-error").grade([toy("t", steps)])
    assert t.first_error("mc") == 4
    (t,) = MCGrader(RateBackend(), ToyWorld(), n=8, mode="first-error", threshold=0.125).grade([toy("t", steps)])
    assert t.first_error("mc") == 1
    assert t.steps[1].labels["mc"].score == 0.125 and t.steps[1].labels["mc"].verdict == "incorrect"


def test_extend_resamples_a_dead_end_before_it_counts():
    be = RateBackend()
    g = MCGrader(be, ToyWorld(), n=4, mode="first-error", extend=4)
    (t,) = g.grade([toy("t", HARD)])
    lab = t.steps[3].labels["mc"]
    assert lab.extra == {"n": 8, "n_correct": 4} and lab.verdict == "correct"
    assert lab.cost.calls == 8  # both draws are paid for on the step
    assert t.first_error("mc") == 5
    # the true dead end at 5 was re-estimated too, and stayed dead
    assert t.steps[5].labels["mc"].extra["n"] == 8


def test_new_options_keep_old_configuration_hashes_and_are_checked():
    assert MCGrader(ScriptedBackend(), ToyWorld(), n=3)._ref.hash == MCGrader(
        ScriptedBackend(), ToyWorld(), n=3, threshold=0.0, extend=0, confirm=False)._ref.hash
    assert "confirm" in MCGrader(ScriptedBackend(), ToyWorld(), confirm=True).config
    for bad in ({"threshold": 1.0}, {"threshold": -0.1}, {"extend": -1}):
        with pytest.raises(ConfigError):
            MCGrader(ScriptedBackend(), ToyWorld(), **bad)


class SlipBackend(ScriptedBackend):
    """After a "SLIP" step the policy still reaches the right answer, but through a false
    claim (a compensating error); from clean prefixes its arithmetic is right."""

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        self.prompts += list(prompts)
        text = {True: "7 + 5 = 13\nAnswer: right", False: "7 + 5 = 12\nAnswer: right"}
        return [[Generation(text["SLIP" in p], 3) for _ in range(n)] for p in prompts]


def test_rollout_check_discounts_successes_through_false_claims():
    steps = ["a", "b", "SLIP", "c", "Answer: wrong"]
    (t,) = MCGrader(SlipBackend(), ToyWorld(), n=4, mode="first-error").grade([toy("t", steps)])
    assert t.first_error("mc") == 4  # pure MC: the slip is "recoverable"
    g = MCGrader(SlipBackend(), ToyWorld(), n=4, mode="first-error", rollout_check="rules", keep_rollouts=True)
    (t,) = g.grade([toy("t", steps)])
    assert t.first_error("mc") == 2
    lab = t.steps[2].labels["mc"]
    assert lab.extra["n_correct"] == 0 and lab.extra["rollouts"][0]["correct"] is False
    assert t.steps[1].labels["mc"].extra["n_correct"] == 4  # clean successes still count
    assert g.config["rollout_check"] == "rules"
    with pytest.raises(ConfigError):
        MCGrader(SlipBackend(), ToyWorld(), rollout_check="judge")


# ---- recheck: re-estimate only the dead end the search settles on ------------------------

EDGE = ["a", "b", "HARD", "BAD", "c", "Answer: wrong"]  # true first error at 3, "HARD" right before it


def test_recheck_recovers_a_settled_dead_end_and_searches_on():
    plain = MCGrader(RateBackend(), ToyWorld(), n=4, mode="first-error", confirm=True, name="p")
    (t,) = plain.grade([toy("t", EDGE)])
    assert t.first_error("p") == 2  # confirm cannot help: the right neighbour is the real error
    be = RateBackend()
    g = MCGrader(be, ToyWorld(), n=4, mode="first-error", confirm=True, recheck=4)
    (t,) = g.grade([toy("t", EDGE)])
    # bisection 2 (dead), 1 (alive); confirm 3 (dead); recheck 2 (recovers) -> lo 3; confirm 4; recheck 3
    assert probed_steps(be.prompts) == [2, 1, 3, 2, 4, 3]
    assert t.first_error("mc") == 3
    hard, bad = t.steps[2].labels["mc"], t.steps[3].labels["mc"]
    assert hard.extra == {"n": 8, "n_correct": 4} and hard.verdict == "correct" and hard.cost.calls == 8
    assert bad.extra == {"n": 8, "n_correct": 0} and bad.verdict == "incorrect"
    assert g.config["recheck"] == 4 and g.probes == 6


def test_recheck_without_confirm_and_never_on_an_answer_line():
    be = RateBackend()
    (t,) = MCGrader(be, ToyWorld(), n=4, mode="first-error", recheck=4).grade([toy("t", EDGE)])
    # 2 dead, 1 alive; recheck 2 recovers -> search [3, 5]: 4 dead, 3 dead; recheck 3 stays dead
    assert probed_steps(be.prompts) == [2, 1, 2, 4, 3, 3]
    assert t.first_error("mc") == 3
    be = RateBackend()
    (t,) = MCGrader(be, ToyWorld(), n=4, mode="first-error", recheck=4).grade([toy("t", ["a", "Answer: wrong"])])
    assert probed_steps(be.prompts) == [0] and t.first_error("mc") == 1  # the answer's value is exact


def test_recheck_options_are_checked_and_hashed_only_when_set():
    assert "recheck" not in MCGrader(ScriptedBackend(), ToyWorld(), mode="first-error").config
    bads = ({"recheck": -1}, {"recheck": 4, "mode": "every-step"}, {"recheck": 4, "extend": 4, "mode": "first-error"})
    for bad in bads:
        with pytest.raises(ConfigError):
            MCGrader(ScriptedBackend(), ToyWorld(), **bad)
