"""The Ray engine on a real local Ray cluster (127.0.0.1, 2 CPUs, one per module): the same
output as the local engine, workers killed with SIGKILL mid-job, and resumes."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import ray  # the optional extra `ray`, which the dev extra (`make test`) installs

from stepsieve import StepsieveError
from stepsieve.engine import RayOptions, parts_dir, run_grading, run_grading_ray

HERE = Path(__file__).parent
SRC = HERE.parents[1] / "src"
sys.path.insert(0, str(HERE))
from _slow_job import BudgetedGrader, LoggedSlowGrader, SlowGrader  # noqa: E402 — found through the path just set
from test_resume import lines, make_input  # noqa: E402

sys.path.insert(0, str(HERE.parent))  # tests/_cli.py


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One real local cluster for the module (a start costs seconds), stopped after."""
    if ray.is_initialized():
        ray.shutdown()
    path = os.pathsep.join([str(SRC), str(HERE), os.environ.get("PYTHONPATH", "")])
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": path}}, logging_level="WARNING")
    yield
    ray.shutdown()


def _ref(tmp_path: Path, n: int, batch_size: int) -> tuple[Path, Path]:
    src = tmp_path / "in.jsonl"
    make_input(src, n)
    ref = tmp_path / "ref.jsonl"
    run_grading(SlowGrader(0.0), src, ref, batch_size=batch_size)
    return src, ref


def test_same_output_as_the_local_engine_picking_up_its_partial_output(tmp_path):
    src, ref = _ref(tmp_path, 37, 4)
    out = tmp_path / "out.jsonl"
    run_grading(SlowGrader(0.0), src, out, batch_size=4, limit=8)  # a local run got this far
    stats, info = run_grading_ray(functools.partial(SlowGrader, 0.0), src, out, batch_size=4,
                                  ray_options=RayOptions(actors=2, shard_size=8))
    assert (stats.read, stats.already_done, stats.graded) == (37, 8, 29)
    assert (info["workers"], info["shards"]) == (2, 4)
    assert lines(out) == lines(ref)  # line for line: the local engine's batches, in input order
    assert not parts_dir(out).exists()


def _run_in_thread(fn):
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 — handed to the test thread
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


def _kill_a_worker_after(log: Path, records: int, timeout: float = 90.0) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = log.read_text().split("\n")[:-1] if log.exists() else []
        if len(got) >= records:
            pid = int(got[-1].split()[0])
            os.kill(pid, signal.SIGKILL)  # a worker of this module's own cluster
            return pid
        time.sleep(0.02)
    raise AssertionError("the job never got going")


@pytest.mark.slow  # Ray workers start, and some restart: ~10-20 s idle
def test_worker_killed_mid_shard_is_restarted_and_loses_at_most_its_batch(tmp_path):
    src, ref = _ref(tmp_path, 40, 2)
    out, log = tmp_path / "out.jsonl", tmp_path / "graded.log"
    make = functools.partial(LoggedSlowGrader, 0.05, str(log))
    th, box = _run_in_thread(lambda: run_grading_ray(make, src, out, batch_size=2,
                                                     ray_options=RayOptions(actors=2, shard_size=8)))
    _kill_a_worker_after(log, 9)
    th.join(180)
    assert "error" not in box, box.get("error")
    stats, _ = box["result"]
    assert stats.graded + stats.already_done == 40
    assert lines(out) == lines(ref)  # none lost, none duplicated, input order
    regraded = sum(c - 1 for c in Counter(x.split()[1] for x in log.read_text().split("\n")[:-1]).values())
    assert regraded <= 2, f"{regraded} records graded twice: more than the one batch in flight"


@pytest.mark.slow  # Ray workers start, and some restart: ~10-20 s idle
def test_failed_shard_stops_the_job_and_the_same_command_resumes(tmp_path):
    src, ref = _ref(tmp_path, 40, 2)
    out, log = tmp_path / "out.jsonl", tmp_path / "graded.log"
    make = functools.partial(LoggedSlowGrader, 0.05, str(log))
    opts = RayOptions(actors=2, shard_size=8, max_restarts=0)
    th, box = _run_in_thread(lambda: run_grading_ray(make, src, out, batch_size=2, ray_options=opts))
    _kill_a_worker_after(log, 9)
    th.join(180)
    err = box.get("error")
    assert isinstance(err, StepsieveError), err
    assert "failed" in str(err) and "re-run the same command" in str(err) and "t" in str(err)
    assert not out.exists() or lines(out) == []  # nothing merged: the parts hold what was graded
    kept = sum(len(lines(p)) for p in parts_dir(out).glob("part-*.jsonl"))
    assert kept >= 8
    stats, _ = run_grading_ray(functools.partial(SlowGrader, 0.0), src, out, batch_size=2, ray_options=opts)
    assert stats.already_done == kept and stats.graded == 40 - kept
    assert lines(out) == lines(ref)
    assert not parts_dir(out).exists()


@pytest.mark.slow  # Ray workers start: ~10 s idle
def test_max_cost_is_one_budget_for_the_whole_job_not_one_per_worker(tmp_path):
    """Two workers share one ``--max-cost``: the job stops at the cap (not at twice the cap),
    keeps what it wrote, and the same job without the cap resumes to the uncapped output."""
    from stepsieve.backends import Budget

    src, ref = _ref(tmp_path, 40, 2)
    out = tmp_path / "out.jsonl"
    opts = RayOptions(actors=2, shard_size=4, max_restarts=0)
    with pytest.raises(StepsieveError, match=r"budget exceeded: 11 of 11 requests spent.*whole Ray job"):
        run_grading_ray(functools.partial(BudgetedGrader, 0.01), src, out, batch_size=2, ray_options=opts,
                        budget=Budget(max_requests=11))
    kept = sum(len(lines(p)) for p in parts_dir(out).glob("part-*.jsonl"))
    assert 1 <= kept <= 11  # per-worker budgets would have let up to 22 through
    stats, info = run_grading_ray(functools.partial(BudgetedGrader, 0.0), src, out, batch_size=2,
                                  ray_options=opts, budget=Budget(max_requests=100))
    assert stats.already_done == kept and stats.graded == 40 - kept
    assert info["budget"]["requests"] == 40 - kept and info["counts"] == {"charged": 40 - kept}
    assert lines(out) == lines(ref)


def test_shard_size_must_hold_whole_batches(tmp_path):
    with pytest.raises(StepsieveError, match="multiple of --batch-size"):
        run_grading_ray(functools.partial(SlowGrader, 0.0), tmp_path / "in.jsonl", tmp_path / "o.jsonl",
                        batch_size=4, ray_options=RayOptions(shard_size=6))


def test_more_workers_than_the_cluster_holds_is_an_error_not_a_hang(tmp_path):
    src, _ = _ref(tmp_path, 2, 2)
    with pytest.raises(StepsieveError, match="do not fit"):
        run_grading_ray(functools.partial(SlowGrader, 0.0), src, tmp_path / "o.jsonl", batch_size=2,
                        ray_options=RayOptions(actors=3))


def _labels(path: Path) -> list[dict]:
    """Records with each label's wall seconds left out: the one field no two runs share."""
    recs = [orjson.loads(x) for x in lines(path)]
    for r in recs:
        for s in r["steps"]:
            for lab in (s.get("labels") or {}).values():
                (lab.get("cost") or {}).pop("seconds", None)
    return recs


@pytest.mark.slow  # Ray workers start, and some restart: ~10-20 s idle
def test_cli_mc_on_ray_actors_writes_the_local_engines_labels(tmp_path, capsys):
    """The real mc grader, the embedded policy in each worker (``--actors``): same command,
    same seed, same labels as the local engine."""
    from _cli import run_cli

    src = tmp_path / "arith.jsonl"
    assert run_cli(["sample", "--world", "arith", "--n", "6", "--ops", "3-4", "--seed", "3", "--out", src],
                   capsys)[0] == 0
    args = ["--grader", "mc", "--mode", "first-error", "--n", "4", "--batch-size", "2", "--no-cache", "-q"]
    code, _, err = run_cli(["grade", src, tmp_path / "local.jsonl", *args], capsys)
    assert code == 0, err
    code, out, err = run_cli(["grade", src, tmp_path / "ray.jsonl", *args, "--engine", "ray", "--actors", "2",
                              "--shard-size", "2"], capsys)
    assert code == 0, err
    report = orjson.loads(out.strip().splitlines()[-1])
    assert (report["engine"], report["workers"], report["shards"], report["graded"]) == ("ray", 2, 3, 6)
    assert report["backend"]["calls"] > 0  # the workers' model usage, added up
    local = _labels(tmp_path / "local.jsonl")
    assert any(lab["mc"].get("cost", {}).get("calls") for r in local for lab in
               (s["labels"] for s in r["steps"]) if "mc" in lab), "mc made no probe: the test proves nothing"
    assert _labels(tmp_path / "ray.jsonl") == local
    assert (tmp_path / "ray.jsonl.manifest.json").exists()


def test_ray_only_options_need_the_ray_engine(tmp_path, capsys):
    from _cli import run_cli

    code, _, err = run_cli(["grade", tmp_path / "in.jsonl", tmp_path / "o.jsonl", "--grader", "rules",
                            "--actors", "2"], capsys)
    assert code == 2 and "--engine ray only" in err


def test_the_local_engine_never_imports_ray():
    code = ("import sys, stepsieve, stepsieve.cli, stepsieve.engine, stepsieve.graders, stepsieve.backends.openai;"
            "from stepsieve.cli import main; bad = [m for m in sys.modules if m == 'ray' or m.startswith('ray.')];"
            "assert not bad, bad")
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(SRC))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


@pytest.mark.slow  # Ray workers start, and some restart: ~10-20 s idle
def test_sample_on_ray_resumes_after_a_failure_and_equals_local(tmp_path, capsys):
    from _cli import run_cli
    from _slow_job import FailingPolicy

    from stepsieve.engine import run_sampling_ray

    args = ["--world", "arith", "--n", "8", "--ops", "2-3", "--seed", "5", "--samples-per-task", "2",
            "--batch-size", "2"]
    assert run_cli(["sample", *args, "--out", tmp_path / "local.jsonl"], capsys)[0] == 0
    dest = tmp_path / "ray.jsonl"
    opts = RayOptions(actors=2, shard_size=2, max_restarts=0)
    with pytest.raises(StepsieveError, match="injected failure"):
        run_sampling_ray(functools.partial(FailingPolicy, 1), "arith", 8, 5, dest, samples_per_task=2,
                         knobs={"ops": (2, 3)}, batch_size=2, ray_options=opts)
    assert not dest.exists()  # nothing that looks complete
    kept = sum(len(lines(p)) for p in parts_dir(dest).glob("part-*.jsonl"))
    assert 2 <= kept < 16
    # the same job from the CLI picks up the parts the failed run kept
    code, out, err = run_cli(["sample", *args, "--out", dest, "--engine", "ray", "--actors", "2",
                              "--shard-size", "2"], capsys)
    assert code == 0, err
    assert '"shards": 4' in out
    assert dest.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert not parts_dir(dest).exists()


@pytest.mark.slow  # Ray workers start, and some restart: ~10-20 s idle
def test_cli_ray_workers_call_a_pool_of_servers_and_write_the_local_labels(tmp_path, capsys):
    """``--backend openai`` with ``--base-url`` twice: each worker spreads its requests over both
    servers (real sockets; the fault server answers every completion, so no model is needed
    for this orchestration test); the labels equal the local engine's with the same flags."""
    from _cli import run_cli

    sys.path.insert(0, str(HERE.parent / "backends"))
    from _fault_server import FaultServer

    from stepsieve.formats import write_trajectories
    from stepsieve.sampling import to_trajectory
    from stepsieve.worlds import get_world
    from stepsieve.worlds.arith import reference_steps

    w = get_world("arith")
    src = tmp_path / "in.jsonl"
    ts = []
    for i, task in enumerate(w.sample_tasks(6, 11, ops=(2, 3))):
        steps = [*reference_steps(task)[:-1], "Answer: -1"]  # a wrong answer: mc probes every step
        ts.append(to_trajectory(w, task, steps, traj_id=f"t{i}", meta={}))
    write_trajectories(ts, src)
    with FaultServer() as a, FaultServer() as b:
        args = ["--grader", "mc", "--mode", "every-step", "--n", "2", "--batch-size", "2", "--no-cache", "-q",
                "--backend", "openai", "--model", "m", "--base-url", a.base_url, "--base-url", b.base_url]
        code, _, err = run_cli(["grade", src, tmp_path / "local.jsonl", *args], capsys)
        assert code == 0, err
        local_requests = len(a.requests) + len(b.requests)
        code, out, err = run_cli(["grade", src, tmp_path / "ray.jsonl", *args, "--engine", "ray",
                                  "--actors", "2", "--shard-size", "2"], capsys)
        assert code == 0, err
        assert len(a.requests) + len(b.requests) == 2 * local_requests > 0
    usage = orjson.loads(out.strip().splitlines()[-1])["backend"]
    assert usage["workers"] == 2 and {s["url"] for s in usage["servers"]} == {a.base_url, b.base_url}
    assert all(s["requests"] > 0 for s in usage["servers"])
    assert _labels(tmp_path / "ray.jsonl") == _labels(tmp_path / "local.jsonl")


@pytest.mark.slow  # Ray workers start and load the embedded policy: ~10-20 s idle
def test_cli_augment_on_ray_writes_the_local_engines_thoughts_and_resumes(tmp_path, capsys):
    """``augment --engine ray``: the embedded policy in each worker writes the thoughts the
    local engine writes (same seed), and a rerun skips what is written (the hash stamped in
    ``meta.augment``, not a label, is the resume key)."""
    from _cli import run_cli

    sys.path.insert(0, str(HERE.parent / "augment"))
    from test_augment import _toolcalc

    from stepsieve.formats import open_writer, read_trajectories

    src = tmp_path / "tc.jsonl"
    with open_writer(src) as w:
        for i in range(4):
            w.write(_toolcalc(f"tc{i}"))
    argv = ["--label", "truth", "--no-cache", "--batch-size", "1"]
    code, _, err = run_cli(["augment", src, tmp_path / "local.jsonl", *argv], capsys)
    assert code == 0, err
    ray_argv = ["augment", src, tmp_path / "ray.jsonl", *argv, "--engine", "ray", "--actors", "2", "--shard-size", "1"]
    code, out, err = run_cli(ray_argv, capsys)
    assert code == 0, err
    report = orjson.loads(out.strip().splitlines()[-1])
    assert (report["engine"], report["workers"], report["shards"], report["graded"]) == ("ray", 2, 4, 4)
    assert report["counts"]["kept_actions"] == 8 and report["backend"]["calls"] == 8

    def thoughts(path: Path) -> list[tuple[str, int, str | None, str | None]]:
        return [(t.id, s.index, s.thought, (s.meta or {}).get("augment", {}).get("check"))
                for t in read_trajectories(path) for s in t.steps]

    local = thoughts(tmp_path / "local.jsonl")
    assert sum(c is not None for *_, c in local) == 8
    assert thoughts(tmp_path / "ray.jsonl") == local
    code, out, err = run_cli([*ray_argv[:-4], "--actors", "1"], capsys)  # resumes: nothing left to do
    again = orjson.loads(out.strip().splitlines()[-1])
    assert code == 0 and (again["already_done"], again["graded"]) == (4, 0), err


@pytest.mark.slow  # Ray workers start: ~10 s idle
def test_sample_gui_on_ray_writes_the_screens_to_outs_media_and_equals_local(tmp_path, capsys):
    """A world with screenshots on Ray: workers write screens into OUT's one media store; the
    records equal the local engine's (but for the media folder's name) and every image reads
    back with its hash checked."""
    from _cli import run_cli

    from stepsieve.formats import read_trajectories
    from stepsieve.media import MediaResolver

    args = ["--world", "gui", "--n", "4", "--ops", "3-4", "--seed", "2", "--batch-size", "1"]
    assert run_cli(["sample", *args, "--out", tmp_path / "local.jsonl"], capsys)[0] == 0
    dest = tmp_path / "ray.jsonl"
    code, _, err = run_cli(["sample", *args, "--out", dest, "--engine", "ray", "--actors", "2", "--shard-size", "1"],
                             capsys)
    assert code == 0, err
    local = (tmp_path / "local.jsonl").read_text().replace("local.jsonl.media/", "ray.jsonl.media/")
    assert dest.read_text() == local
    resolver = MediaResolver(dest)
    refs = [ref for t in read_trajectories(dest) for s in t.steps for ref in s.images]
    assert len(refs) >= 8
    for ref in refs:
        resolver.read(ref)  # exists, size and sha256 as recorded
    assert not parts_dir(dest).exists()
