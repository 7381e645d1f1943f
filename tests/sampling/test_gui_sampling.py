"""Sampling the gui world: screenshots stored beside the output and verified by their hash,
computer-use actions in the record, a truth label on every action; the gui policy backend
(a tiny randomly initialised net of the real architecture) and mc grading unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stepsieve.backends.gui_policy import GuiPolicyBackend, GuiPolicyNet, candidates
from stepsieve.formats import read_trajectories
from stepsieve.media import MediaResolver
from stepsieve.sampling import sample
from stepsieve.worlds.gui import GuiWorld
from tests._cli import run_cli

W = GuiWorld()


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised gui policy over the words of a few real screens."""
    vocab: set[str] = set()
    for t in W.sample_tasks(8, 0):
        ref = W.reference(t)
        for k in range(len(ref)):
            _, ctx, cands = candidates(W.prompt(t, ref[:k]))
            vocab |= {*ctx, *(w for c in cands for w in c.words)}
    d = tmp_path_factory.mktemp("gui_policy")
    GuiPolicyNet(sorted(vocab), dim=16, hidden=16).save(d)
    return d


def test_policy_backend_samples_deterministically_and_scores_its_actions(policy_dir: Path) -> None:
    b = GuiPolicyBackend(policy_dir)
    t = W.sample_tasks(1, 2)[0]
    prompt = W.prompt(t)
    a = b.generate([prompt, prompt], n=3, seed=5)
    assert a == b.generate([prompt, prompt], n=3, seed=5) and a[0] == a[1]
    acts = [c.action for c in candidates(prompt)[2]]
    assert all(g.text in acts for g in a[0])
    s = b.score([prompt, prompt], [a[0][0].text, "click(9999, 1)"])
    assert s[0].logprob <= 0.0 and s[1].logprob == float("-inf")


def test_sample_stores_before_and_after_screens_with_their_hash(policy_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "gui.jsonl"
    code, stdout, err = run_cli(["sample", "--world", "gui", "--n", "2", "--ops", "3-4", "--model", policy_dir,
                                 "--out", out, "--seed", "1"], capsys)
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["n"] == 2
    recs = list(read_trajectories(out))
    assert len(recs) == 2
    assert summary["wrong_steps"] == sum(s.labels["truth"].verdict == "incorrect" for t in recs for s in t.steps)
    resolver = MediaResolver(out)
    task = W.task_from_trajectory(recs[0])
    for t in recs:
        task = W.task_from_trajectory(t)
        texts = [s.text for s in t.steps]
        for i, s in enumerate(t.steps):
            assert s.kind == "action" and "truth" in s.labels and s.labels["truth"].verdict in ("correct", "incorrect")
            assert [r.role for r in s.images] == ["before", "after"]
            for r, k in zip(s.images, (i, i + 1)):
                assert r.path.startswith("gui.jsonl.media/") and (tmp_path / r.path).is_file()
                raw = resolver.read(r)  # size and sha256 checked
                assert hashlib.sha256(raw).hexdigest() == r.sha256 and raw == W.screenshot(task, texts[:k])
            assert len(s.actions) <= 1 and all(a.id == f"call_{i}" for a in s.actions)
        truth = W.step_truth(task, texts)
        assert [s.labels["truth"].verdict == "correct" for s in t.steps] == [ok for ok, _ in truth]
    # a screenshot altered on disk is caught when read
    ref = recs[0].steps[0].images[0]
    (tmp_path / ref.path).write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    with pytest.raises(Exception, match="altered"):
        resolver.read(ref)


def test_mc_grades_gui_rollouts_unchanged(policy_dir: Path, tmp_path: Path, capsys) -> None:
    t = W.sample_tasks(1, 3, steps=3)[0]
    ref = W.reference(t)
    recs = list(sample(W, GuiPolicyBackend(policy_dir), 1, tasks=[t]))
    src = tmp_path / "one.jsonl"
    from stepsieve.formats import write_trajectories
    from stepsieve.sampling import to_trajectory

    write_trajectories([*recs, to_trajectory(W, t, ref, traj_id="ref", meta={})], src)
    out = tmp_path / "mc.jsonl"
    code, _, err = run_cli(["grade", src, out, "--grader", "mc", "--backend", "gui-policy", "--model", policy_dir,
                            "--option", "n=2", "--quiet"], capsys)
    assert code == 0, err
    graded = {t.id: t for t in read_trajectories(out)}
    last = graded["ref"].steps[-1].labels["mc"]
    assert last.verdict == "correct"  # done() after a reached goal: a terminal success, no rollout needed


def test_the_shipped_policy_loads_offline_and_writes_actions() -> None:
    from stepsieve.worlds.gui import to_action

    b = GuiPolicyBackend()  # the embedded one, from the package directory
    t = W.sample_tasks(1, 9, steps=(5, 8))[0]
    [[g]] = b.generate([W.prompt(t)], temperature=0.0)
    assert to_action(g.text).type in ("click", "scroll", "type", "done")
