"""TaskTree on a hand-built task whose node statistics are known."""

import pytest

from stepsieve.trajectory import Label, Outcome, Step, TaskTree, Trajectory, normalize_step, task_key


def _mc(n, k):
    return {"mc": Label(k / n, None, extra={"n": n, "n_correct": k})}


def _tree_task():
    # T1: a b c (correct)   T2: a b' d (wrong)   T3: x y (correct, no labels)
    t1 = Trajectory(
        "t1",
        "q",
        [
            Step(0, "a", labels=_mc(4, 3)),
            Step(1, "b", labels=_mc(4, 4)),
            Step(2, "c", labels={"mc": Label(1.0, None)}),
        ],
        Outcome("1", True),
    )
    t2 = Trajectory(
        "t2",
        "q",
        [Step(0, " a ", labels=_mc(4, 1)), Step(1, "b'", labels=_mc(4, 0)), Step(2, "d", labels=_mc(4, 0))],
        Outcome("2", False),
    )
    t3 = Trajectory("t3", "q", [Step(0, "x"), Step(1, "y")], Outcome("1", True))
    return [t1, t2, t3]


def test_shared_prefix_is_one_node_with_pooled_mc_value():
    tree = TaskTree.from_trajectories(_tree_task(), label="mc")
    assert set(tree.root.children) == {"a", "x"}
    a = tree.root.children["a"]
    assert a.visits == 2 and a.occurrences == [("t1", 0), ("t2", 0)]
    assert a.value == pytest.approx(0.5)  # (3 + 1) / (4 + 4), pooled counts
    assert a.children["b"].value == 1.0 and a.children["b'"].value == 0.0
    assert tree.root.children["x"].value == 1.0  # no label: outcome of the one trajectory through it
    assert tree.root.value == pytest.approx((0.5 * 2 + 1.0) / 3)
    assert [n.text for n in tree.path("t2")] == ["a", "b'", "d"]
    assert tree.path("t2")[0] is tree.path("t1")[0]


def test_forks_siblings_prefix_and_find():
    tree = TaskTree.from_trajectories(_tree_task(), label="mc")
    forks = list(tree.forks())
    assert [f.depth for f in forks] == [1, 0]  # a forked (t2) before the root did (t3)
    b = tree.find(["a", "b"])
    assert b is not None and [s.text for s in b.siblings] == ["b'"]
    assert [n.text for n in b.prefix()] == ["a", "b"] and b.step_index == 1
    assert tree.find(["a", "zzz"]) is None
    assert len(tree) == 3


def test_without_label_values_are_outcome_fractions():
    tree = TaskTree.from_trajectories(_tree_task())
    assert tree.root.children["a"].value == 0.5  # one correct, one wrong outcome
    assert tree.root.value == pytest.approx(2 / 3)


def test_record_adds_mc_evidence_and_checks_it():
    tree = TaskTree("k")
    node = tree.add(Trajectory("t", "q", [Step(0, "s")], meta={"task_id": "k"}))[0]
    assert node.value is None  # no outcome, no label
    node.record(10, 7)
    assert node.value == 0.7
    with pytest.raises(ValueError):
        node.record(2, 3)


def test_task_key_and_mixed_tasks():
    a = Trajectory("a", "q1", [Step(0, "s")], meta={"task_id": 7})
    b = Trajectory("b", [{"role": "user", "content": "hi"}], [Step(0, "s")])
    assert task_key(a) == "7"
    assert task_key(b) == '[{"content":"hi","role":"user"}]'
    assert normalize_step("  x =\t2 +  3 \n") == "x = 2 + 3"
    with pytest.raises(ValueError, match="belongs to task"):
        TaskTree.from_trajectories([a, Trajectory("c", "q2", [Step(0, "s")])])


def test_shared_probe_copies_are_not_counted_twice_and_root_probe_is_used():
    s1 = Label(0.25, None, extra={"n": 4, "n_correct": 1})
    s2 = Label(0.25, None, extra={"n": 4, "n_correct": 1, "shared": True})  # the mc grader's copy
    other = Label(1.0, None, extra={"n": 4, "n_correct": 4})  # an independent probe, e.g. another batch
    ts = [
        Trajectory(
            f"t{i}", "q", [Step(0, "a", labels={"mc": lab})], meta={"mc_root": {"n": 8, "n_correct": 2}}
        )
        for i, lab in enumerate([s1, s2, other])
    ]
    tree = TaskTree.from_trajectories(ts, label="mc")
    a = tree.root.children["a"]
    assert (a.mc_n, a.mc_correct) == (8, 5) and a.value == 5 / 8
    assert tree.root.value == 2 / 8  # the recorded root probe, taken once


def test_clear_breaks_every_parent_link_and_empties_the_tree():
    import gc

    tree = TaskTree.from_trajectories(_tree_task(), label="mc")
    nodes = list(tree.nodes())
    assert len(nodes) == 8  # the root and 7 steps
    tree.clear()
    assert all(n.parent is None for n in nodes)
    assert len(tree) == 0 and tree.root.children == {} and tree.forks() == []
    # a cleared tree leaves no reference cycles behind: refcounting frees it at once
    gc.collect()
    tree = TaskTree.from_trajectories(_tree_task(), label="mc")
    tree.clear()
    del tree, nodes
    assert gc.collect() == 0


@pytest.mark.parametrize(
    "texts",
    [
        ["a b", "c"],
        [" a", "b"],
        ["a ", "b"],
        ["a  b", "c"],
        ["a\tb", "c\n"],
        ["x | y", "z"],  # holds "| ": the one-scan proof fails, each text is normalised
        ["x |", "| y"],
        ["", "a"],
        [],
        ["\u3000a", "b\u00a0c"],
    ],
)
def test_normalize_steps_is_normalize_step_of_each(texts):
    from stepsieve.trajectory._tree import normalize_steps

    got = list(normalize_steps(texts))
    assert got == [" ".join(t.split()) for t in texts] == [normalize_step(t) for t in texts]


def test_evidence_read_late_is_the_evidence_read_in_order():
    """Labels wait on their node until a value is asked for; order (and record()) is kept."""

    def mk(tid, extra, score=None):
        lab = Label(score, "correct", extra=extra)
        return Trajectory(tid, "q", [Step(0, "s", labels={"mc": lab})], Outcome(None, None))

    tree = TaskTree.from_trajectories(
        [mk("a", {"n": 4, "n_correct": 1}), mk("b", {"n": 4, "n_correct": 3, "shared": True}),
         mk("c", {"n": 2, "n_correct": 2})],
        label="mc",
    )  # fmt: skip
    (node,) = tree.root.children.values()
    assert (node.mc_n, node.mc_correct) == (6, 3)  # the shared copy is not counted
    node.record(2, 0)
    assert node.value == 3 / 8
    # a shared label first on a node counts; after record() the node has counts, so a later
    # shared label does not
    t2 = TaskTree.from_trajectories([mk("a", {"n": 4, "n_correct": 4, "shared": True})], label="mc")
    (n2,) = t2.root.children.values()
    assert n2.value == 1.0
    n2.record(4, 0)
    t2.add(mk("b", {"n": 4, "n_correct": 4, "shared": True}))
    assert (n2.mc_n, n2.mc_correct) == (8, 4)
    t3 = TaskTree.from_trajectories([mk("a", None, 0.25), mk("b", None, 0.75)], label="mc")
    assert next(iter(t3.root.children.values())).value == 0.5
