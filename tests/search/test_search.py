"""Each search strategy on a scripted setup whose best answer is known."""

from __future__ import annotations

import pytest

from stepsieve import ConfigError
from stepsieve.search import (
    BeamConfig,
    Candidate,
    accuracy_vs_n,
    aggregate,
    beam_search,
    best_of_n,
    greedy_search,
    majority_vote,
    sample_candidates,
    weighted_majority,
)
from stepsieve.worlds import Task

from .conftest import ScriptedBackend, ScriptedScorer, ScriptedWorld


def test_aggregate():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s, "min") == 0.5
    assert aggregate(s, "prod") == pytest.approx(0.36)
    assert aggregate(s, "last") == 0.8
    assert aggregate(s, "mean") == pytest.approx(2.2 / 3)
    assert aggregate([], "min") == 0.0
    with pytest.raises(ConfigError, match="unknown aggregation 'max'"):
        aggregate(s, "max")


def _pool():
    # Three confident-looking but PRM-distrusted votes for 5; two trusted votes for 7 (right).
    wrong = [Candidate(["x", "Answer: 5"], "5", [0.9, 0.2], 10, False) for _ in range(3)]
    right = [Candidate(["y", "Answer: 7"], "7", [0.7, 0.9], 10, True) for _ in range(2)]
    return wrong + right


def test_majority_best_of_n_and_weighted_majority():
    pool = _pool()
    assert majority_vote(pool) == "5"
    assert best_of_n(pool, "min") == "7"
    assert best_of_n(pool, "mean") == "7"
    assert weighted_majority(pool, "min") == "7"  # 3 * 0.2 < 2 * 0.7
    # With "last"... 3 * 0.2 < 2 * 0.9 still; with a prefix-blind "first step" view 5 would win:
    assert weighted_majority([Candidate(c.steps, c.answer, c.step_scores[:1]) for c in pool], "last") == "5"
    assert majority_vote([Candidate([], None)]) is None


def test_aggregation_changes_the_pick():
    a = Candidate(["s1", "Answer: 1"], "1", [0.9, 0.1, 0.95])  # one bad step, strong finish
    b = Candidate(["s2", "Answer: 2"], "2", [0.6, 0.6, 0.6])
    assert best_of_n([a, b], "min") == "2"
    assert best_of_n([a, b], "last") == "1"
    assert best_of_n([a, b], "mean") == "1"
    assert best_of_n([a, b], "prod") == "2"


def _tree():
    t = Task("t0", "make 7", "7")
    tree = {
        ("make 7",): ["b1", "a1"],
        ("make 7", "a1"): ["a2"],
        ("make 7", "a1", "a2"): ["Answer: 7"],
        ("make 7", "b1"): ["Answer: 5"],
    }
    table = {"a1": 0.9, "b1": 0.3, "a2": 0.8, "Answer: 7": 0.9, "Answer: 5": 0.95}
    return t, ScriptedBackend(tree), ScriptedScorer(table)


def test_beam_search_keeps_the_best_prefix_and_honours_the_aggregation():
    task, backend, scorer = _tree()
    world = ScriptedWorld()
    cfg = BeamConfig(beam_width=2, expand=2, max_steps=5, stop="\n", aggregation="min")
    (res,) = beam_search([task], world, backend, scorer, cfg)
    assert res.steps == ["a1", "a2", "Answer: 7"] and res.answer == "7" and res.correct
    assert res.step_scores == [0.9, 0.8, 0.9]
    assert all(c["stop"] == ["\n"] and c["max_tokens"] == cfg.max_step_tokens for c in backend.calls)
    assert backend.calls[0]["n"] == 4  # the root gets beam_width * expand
    # tokens: root 4 samples (b1, a1, b1, a1), then 2 per live beam at each depth
    assert res.tokens == 4 * 2 + 2 * len("a2") + 2 * len("Answer: 5") + 2 * len("Answer: 7")
    # "last" prefers the short path whose final step looks best: the aggregation is not ignored.
    (res_last,) = beam_search([task], world, ScriptedBackend(backend.tree), scorer,
                              BeamConfig(beam_width=2, expand=2, aggregation="last"))
    assert res_last.answer == "5"


def test_greedy_follows_the_reward():
    task, backend, scorer = _tree()
    (res,) = greedy_search([task], ScriptedWorld(), backend, scorer, BeamConfig(beam_width=3, expand=2))
    assert res.answer == "7"
    # Without the reward model's preference the policy's first sample (b1) would lead to 5.
    (bad,) = greedy_search([task], ScriptedWorld(), ScriptedBackend(backend.tree),
                           ScriptedScorer({"b1": 0.99}), BeamConfig(expand=2))
    assert bad.answer == "5"


def test_beam_search_batches_tasks_and_stops_at_max_steps():
    t1, backend, scorer = _tree()
    t2 = Task("t1", "loop", "1")
    backend.tree[("loop",)] = ["again"]
    backend.tree[("loop", "again")] = ["again"]
    backend.tree[("loop", "again", "again")] = ["again"]
    res = beam_search([t1, t2], ScriptedWorld(), backend, scorer, BeamConfig(beam_width=1, expand=2, max_steps=3))
    assert [r.answer for r in res] == ["7", None]
    assert res[1].steps == ["again"] * 3  # the depth limit ends a search that never answers
    assert all(len(c["prompts"]) <= 2 for c in backend.calls)  # one call per depth for both tasks
    assert scorer.calls == len(backend.calls)


def test_sample_candidates_and_accuracy_vs_n():
    world = ScriptedWorld()
    tasks = [Task("a", "p1", "7"), Task("b", "p2", "3")]
    backend = ScriptedBackend(full={
        "p1": ["x\nAnswer: 5", "x\nAnswer: 5", "y\nAnswer: 7", "z\nno answer"],
        "p2": ["u\nAnswer: 3", "v\nAnswer: 4", "v\nAnswer: 4", "u\nAnswer: 3"],
    })
    scorer = ScriptedScorer({"x": 0.2, "y": 0.9, "u": 0.8, "v": 0.1})
    pools = sample_candidates(tasks, world, backend, scorer, n=4)
    assert [c.answer for c in pools[0]] == ["5", "5", "7", None]
    assert [c.correct for c in pools[0]] == [False, False, True, False]
    assert pools[0][2].step_scores == [0.9, 0.5] and pools[0][0].tokens == len("x\nAnswer: 5")
    curves = accuracy_vs_n(pools, [1, 4], ["majority", "best_of_n", "weighted_majority"], aggregations=("min",))
    # N = 4 uses every sample once: majority gets p1 wrong (5), p2 tied 3/4 -> 3 seen first -> right.
    assert curves["majority"][4] == 0.5
    assert curves["best_of_n:min"][4] == 1.0
    assert curves["weighted_majority:min"][4] == 1.0
    assert curves["oracle"][4] == 1.0
    assert 0.0 < curves["majority"][1] < 1.0
    with pytest.raises(ConfigError, match="exceeds"):
        accuracy_vs_n(pools, [8], ["majority"])


def test_a_sampled_pool_is_rescored_by_another_reward_model():
    from stepsieve.search import score_candidates

    world = ScriptedWorld()
    tasks = [Task("a", "p1", "7")]
    backend = ScriptedBackend(full={"p1": ["x\nAnswer: 5", "y\nAnswer: 7"]})
    pools = sample_candidates(tasks, world, backend, None, n=2)
    assert all(c.step_scores == [] for c in pools[0])
    score_candidates(tasks, world, pools, ScriptedScorer({"x": 0.9, "y": 0.2}))
    assert best_of_n(pools[0], "min") == "5"
    score_candidates(tasks, world, pools, ScriptedScorer({"x": 0.1, "y": 0.8}))  # replaces, not appends
    assert pools[0][1].step_scores == [0.8, 0.5] and best_of_n(pools[0], "min") == "7"
