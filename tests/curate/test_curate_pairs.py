"""Which step-level pairs must appear, on hand-built task trees."""

import pytest
from helpers_curate import traj

from stepsieve.backends._protocol import Generation
from stepsieve.curate import BackendSampler, Grading, PairOptions, PairStats, StepPair, pairs_for_task
from stepsieve.trajectory import Label


def _siblings_task():
    # two trajectories share step "a"; then "b" (MC 4/4) vs "b2" (0/4); a third starts with "x" (2/4)
    t1 = traj("t1", ["correct"] * 3, texts=["a", "b", "c"], mc=[(4, 2), (4, 4), (4, 4)], correct=True)
    t2 = traj(
        "t2",
        ["correct", "incorrect", "incorrect"],
        texts=["a", "b2", "d"],
        mc=[(4, 2), (4, 0), (4, 0)],
        correct=False,
    )
    t3 = traj("t3", ["correct", "correct"], texts=["x", "y"], mc=[(4, 2), (4, 3)], correct=True)
    return [t1, t2, t3]


def key(p):
    return ([s.text for s in p.prefix], p.chosen, p.rejected, p.source, p.chosen_from)


def test_sibling_pairs_respect_the_margin():
    ps = pairs_for_task(_siblings_task(), Grading("truth"), PairOptions(kinds=("sibling",), margin=0.5))
    assert [key(p) for p in ps] == [(["a"], "b", "b2", "sibling", "tree")]
    p = ps[0]
    assert (p.chosen_value, p.rejected_value) == (1.0, 0.0)
    assert p.chosen_rest == ["c"] and p.rejected_rest == ["d"]
    # root fork: a (2/4+2/4 pooled = 0.5) vs x (0.5): no gap, never a pair at any margin > 0
    ps = pairs_for_task(_siblings_task(), Grading("truth"), PairOptions(kinds=("sibling",), margin=0.01))
    assert len(ps) == 1


def test_step_dpo_pair_from_a_correct_sibling_in_the_tree():
    ps = pairs_for_task(_siblings_task(), Grading("truth"), PairOptions(kinds=("first_error",)))
    assert [key(p) for p in ps] == [(["a"], "b", "b2", "first_error", "tree")]
    assert ps[0].trajectory_ids == ["t2", "t1"]


def test_step_dpo_pair_from_recorded_rollouts():
    t = traj("r", ["correct", "incorrect", "correct"], texts=["s0", "bad", "s2"])
    t.steps[0].labels["mc"] = Label(
        0.5,
        None,
        extra={
            "n": 2,
            "n_correct": 1,
            "rollouts": [
                {"text": "bad\nanswer 3", "correct": False},
                {"text": "  \ngood step\nanswer 5\n", "correct": True},
            ],
        },
    )
    (p,) = pairs_for_task([t], Grading("truth"), PairOptions(kinds=("first_error",)))
    assert key(p) == (["s0"], "good step", "bad", "first_error", "rollout")
    assert p.chosen_rest == ["answer 5"] and p.rejected_rest == ["s2"]


def test_rollouts_whose_first_step_is_the_error_are_skipped():
    t = traj("r", ["correct", "incorrect"], texts=["s0", "bad"])
    t.steps[0].labels["mc"] = Label(1.0, None, extra={"rollouts": [{"text": "bad\nok", "correct": True}]})
    st = PairStats()
    assert pairs_for_task([t], Grading("truth"), PairOptions(kinds=("first_error",)), stats=st) == []
    assert st.no_chosen == 1


class FakeWorld:
    def task_from_trajectory(self, t):
        return t.task

    def prompt(self, task, steps):
        return task + "\n" + "".join(s + "\n" for s in steps)

    def split_steps(self, completion):
        return [x for x in completion.split("\n") if x]

    def parse_answer(self, completion):
        return completion.rsplit("answer ", 1)[-1].strip() if "answer " in completion else None

    def check_answer(self, task, answer):
        return answer == "5"


class FakeBackend:
    name, model = "fake", "fake"

    def __init__(self):
        self.prompts = []

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        self.prompts.extend(prompts)
        return [[Generation("nope\nanswer 4", 3), Generation("fixed\nanswer 5", 3)][:n] for _ in prompts]


def test_step_dpo_chosen_sampled_on_request():
    t = traj("s", ["correct", "incorrect"], texts=["s0", "bad"], task="Q")
    be = FakeBackend()
    sampler = BackendSampler(be, FakeWorld(), n=2)
    twin = traj("s2", ["correct", "incorrect"], texts=["s0", "bad"], task="Q")  # the same first error
    ps = pairs_for_task([t, twin], Grading("truth"), PairOptions(kinds=("first_error",)), sampler=sampler)
    assert [key(p) for p in ps] == [(["s0"], "fixed", "bad", "first_error", "sampled")]
    assert be.prompts == ["Q\ns0\n"] and sampler.calls == 1  # sampled once for the shared error


def test_duplicates_removed_and_cap_balanced_over_prefixes():
    # the same wrong trajectory twice, plus a correct sibling: one first-error pair, not two
    ts = [
        traj("w1", ["correct", "incorrect"], texts=["a", "bad"]),
        traj("w2", ["correct", "incorrect"], texts=["a", "bad"]),
        traj("ok", ["correct", "correct"], texts=["a", "good"]),
    ]
    st = PairStats()
    ps = pairs_for_task(ts, Grading("truth"), PairOptions(kinds=("first_error",)), stats=st)
    assert len(ps) == 1 and st.duplicates == 1
    # three forks (prefixes "", "p", "q"), each with several pairs; cap 3 takes one from each
    ts = []
    for pre in ("p", "q", "r"):
        for j, k in enumerate([4, 3, 0]):
            ts.append(
                traj(f"{pre}{j}", ["correct", "correct"], texts=[pre, f"{pre}-{j}"], mc=[(4, 2), (4, k)])
            )
    st = PairStats()
    ps = pairs_for_task(
        ts, Grading("truth"), PairOptions(kinds=("sibling",), margin=0.25, max_per_task=3), stats=st
    )
    assert sorted(p.prefix[0].text for p in ps) == ["p", "q", "r"]
    assert all((p.chosen_value, p.rejected_value) == (1.0, 0.0) for p in ps)  # largest gap first
    assert st.capped == 6 and st.pairs == 3  # 3 pairs per fork found, 3 kept in total


def test_pair_record_round_trip():
    (p,) = pairs_for_task(_siblings_task(), Grading("truth"), PairOptions(kinds=("sibling",)))
    q = StepPair.from_dict(p.to_dict())
    assert q.to_dict() == p.to_dict()


@pytest.mark.parametrize("bad", [{"kind": "other"}, {"kind": "step_pair", "task": "q", "chosen": 1}])
def test_bad_pair_record(bad):
    from stepsieve import SchemaError

    with pytest.raises(SchemaError):
        StepPair.from_dict(bad)


def test_group_by_task_bounded_buffer_counts_splits():
    from stepsieve.curate import GroupStats, group_by_task

    ts = [traj(f"{k}{i}", ["correct"], task_id=k) for i, k in enumerate("aabacb")]
    st = GroupStats()
    groups = [[t.id for t in g] for g in group_by_task(ts, max_open=2, stats=st)]
    # LRU: c4 evicts b (idle longest), b5 evicts a and reopens b, which counts as a split
    assert groups == [["b2"], ["a0", "a1", "a3"], ["c4"], ["b5"]] and st.split_tasks == 1
    # with room for every task nothing is split and each task is one group
    st2 = GroupStats()
    groups = [[t.id for t in g] for g in group_by_task(ts, max_open=8, stats=st2)]
    assert groups == [["a0", "a1", "a3"], ["c4"], ["b2", "b5"]] and st2.split_tasks == 0
    # a buffer of 1 (contiguous input assumed) splits the interleaved tasks, and says so
    st3 = GroupStats()
    groups = [[t.id for t in g] for g in group_by_task(ts, contiguous=True, stats=st3)]
    assert groups == [["a0", "a1"], ["b2"], ["a3"], ["c4"], ["b5"]] and st3.split_tasks == 2


def test_sampler_config_goes_to_the_manifest(tmp_path):
    import orjson

    from stepsieve._manifest import read_manifest
    from stepsieve.curate import pairs_file

    t = traj("s", ["correct", "incorrect"], texts=["s0", "bad"], task="Q")
    src = tmp_path / "g.jsonl"
    src.write_bytes(orjson.dumps(t.to_dict()) + b"\n")
    sampler = BackendSampler(FakeBackend(), FakeWorld(), n=2, seed=7)
    counts = pairs_file(
        src, tmp_path / "p.jsonl", Grading("truth"), PairOptions(kinds=("first_error",)), sampler=sampler
    )
    assert counts["out"] == 1 and counts["by_source"] == {"first_error": 1}
    m = read_manifest(tmp_path / "p.jsonl")
    assert m["options"]["sampler"] == {
        "backend": "fake",
        "model": "fake",
        "world": "FakeWorld",
        "n": 2,
        "max_tokens": 256,
        "temperature": 1.0,
        "seed": 7,
        "calls": 1,
    }


def test_sibling_pairs_that_contradict_the_grading_are_dropped():
    # outcome values say "w" (lucky right answer) beats "r", but the truth label says "w" is wrong
    ts = [
        traj("t1", ["incorrect", None], texts=["w", "end"], correct=True),
        traj("t2", ["correct", "correct"], texts=["r", "end"], correct=False),
    ]
    st = PairStats()
    opts = PairOptions(label="none", kinds=("sibling",))
    assert pairs_for_task(ts, Grading("truth"), opts, stats=st) == [] and st.inconsistent == 1
    loose = PairOptions(label="none", kinds=("sibling",), consistent=False)
    (p,) = pairs_for_task(ts, Grading("truth"), loose)
    assert (p.chosen, p.rejected) == ("w", "r")


def test_pairs_for_task_leaves_no_cyclic_garbage():
    # the task tree it builds is cleared, so streaming jobs never wait on the cyclic GC
    import gc

    gc.collect()
    ps = pairs_for_task(_siblings_task(), Grading("truth"), PairOptions(kinds=("sibling", "first_error")))
    assert ps
    assert gc.collect() == 0
