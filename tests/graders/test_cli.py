"""`stepsieve grade` and `stepsieve eval` end to end on small files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stepsieve.cli import app
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.trajectory import Label, Step, Trajectory

runner = CliRunner()


def make(path, n=6):
    ts = []
    for i in range(n):
        wrong = i % 2 == 1
        steps = [Step(0, f"{i} + 1 = {i + 1}"), Step(1, f"{i + 1} * 2 = {2 * (i + 1) + (1 if wrong else 0)}")]
        steps[0].labels["truth"] = Label(verdict="correct")
        steps[1].labels["truth"] = Label(verdict="incorrect" if wrong else "correct")
        ts.append(Trajectory(f"t{i}", f"task {i}", steps, meta={"split": "a" if i < 4 else "b"}))
    write_trajectories(ts, path)


def test_grade_rules_then_eval(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    make(src)
    r = runner.invoke(app, ["grade", str(src), str(out), "--grader", "rules", "-q"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.stdout.strip().splitlines()[-1])
    assert stats["graded"] == 6 and stats["read"] == 6
    graded = list(read_trajectories(out))
    assert [t.first_error("rules") for t in graded] == [-1, 1, -1, 1, -1, 1]

    r = runner.invoke(app, ["grade", str(src), str(out), "--grader", "rules", "-q"])  # resume: nothing to do
    assert json.loads(r.stdout.strip().splitlines()[-1])["already_done"] == 6

    r = runner.invoke(app, ["eval", str(out), "--label", "rules", "--out", str(tmp_path / "rep.json")])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "rep.json").read_text())
    assert rep["processbench"]["average_f1"] == 1.0
    assert set(rep["processbench"]["splits"]) == {"a", "b"}
    assert rep["steps"]["precision_wrong"] == 1.0


def test_eval_bad_threshold_is_one_clear_error(tmp_path):
    src = tmp_path / "in.jsonl"
    make(src)
    r = runner.invoke(app, ["eval", str(src), "--label", "truth", "--threshold", "high"])
    assert r.exit_code != 0 and "threshold" in str(r.exception or r.output)


def arith_file(path):
    from stepsieve.worlds.arith import ArithWorld, task_to_dict

    w = ArithWorld()
    ts = []
    for i, task in enumerate(w.sample_tasks(2, seed=4, ops=3)):
        steps = w.reference(task)
        if i == 0:
            steps = [steps[0], "1 + 1 = 2", f"Answer: {int(task.answer) + 1}"]  # surely wrong
        ts.append(Trajectory(f"a{i}", task.problem, [Step(k, s) for k, s in enumerate(steps)],
                             meta={"world": "arith", "task": task_to_dict(task)}))
    write_trajectories(ts, path)


@pytest.mark.slow
def test_grade_mc_with_the_embedded_policy_and_dry_run(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    src, out, dry = tmp_path / "in.jsonl", tmp_path / "mc.jsonl", tmp_path / "dry.jsonl"
    arith_file(src)
    args = ["--grader", "mc", "--mode", "first-error", "--n", "2", "--max-tokens", "40", "-q"]
    r = runner.invoke(app, ["grade", str(src), str(dry), *args, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert not dry.exists()  # a dry run spends nothing and writes no labels
    r = runner.invoke(app, ["grade", str(src), str(out), *args])
    assert r.exit_code == 0, r.output
    a, b = read_trajectories(out)
    assert b.first_error("mc") == -1  # the reference solution: right answer, no probes
    assert a.first_error("mc") in (0, 1, 2)  # world inferred from meta: the wrong answer was found
    assert all(s.labels["mc"].grader.name == "mc" for s in a.steps)


def test_grade_mc_recheck_reaches_the_grader(tmp_path, monkeypatch):
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "in.jsonl"
    arith_file(src)
    args = ["grade", str(src), str(tmp_path / "mc.jsonl"), "--grader", "mc", "--recheck", "4", "-q"]
    r = runner.invoke(app, [*args, "--mode", "every-step"])  # recheck is a first-error option: one clear error
    assert r.exit_code != 0 and "recheck" in str(r.exception) + r.output
    r = runner.invoke(app, [*args, "--mode", "first-error", "--n", "2", "--max-tokens", "40", "--dry-run"])
    assert r.exit_code == 0, r.output
