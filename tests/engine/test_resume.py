"""Resumable grading: kill -9 midway, resume, compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stepsieve import ConfigError, DataError
from stepsieve.engine import dropped_path, run_grading
from stepsieve.formats import write_trajectories
from stepsieve.trajectory import Step, Trajectory

sys.path.insert(0, str(Path(__file__).parent))
from _slow_job import SlowGrader

HERE = Path(__file__).parent


def make_input(path: Path, n: int = 30) -> None:
    ts = [
        Trajectory(f"t{i}", f"task {i}", [Step(k, f"{i} + {k} = {i + k}") for k in range(3)]) for i in range(n)
    ]
    write_trajectories(ts, path)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_kill_9_midway_then_resume_equals_uninterrupted(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src)
    ref = tmp_path / "ref.jsonl"
    run_grading(SlowGrader(0.0), src, ref)

    out = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE / "_slow_job.py"), str(src), str(out), "0.05"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(lines(out)) < 8):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(lines(out))
    assert 8 <= partial < 30, "the kill must land midway"

    stats = run_grading(SlowGrader(0.0), src, out)
    assert stats.already_done + stats.graded == 30
    assert stats.already_done >= 8
    assert lines(out) == lines(ref)  # identical labels, none lost, none duplicated, same order
    again = run_grading(SlowGrader(0.0), src, out)
    assert again.graded == 0 and again.already_done == 30 and lines(out) == lines(ref)


def test_truncated_last_line_is_cut_and_redone(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src, 6)
    ref = tmp_path / "ref.jsonl"
    run_grading(SlowGrader(0.0), src, ref)
    out = tmp_path / "out.jsonl"
    good = lines(ref)
    out.write_bytes(b"\n".join(good[:3]) + b"\n" + good[3][: len(good[3]) // 2])  # killed mid-write
    stats = run_grading(SlowGrader(0.0), src, out)
    assert (stats.already_done, stats.graded) == (3, 3)
    assert lines(out) == good


def test_complete_record_without_newline_is_redone(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src, 4)
    ref = tmp_path / "ref.jsonl"
    run_grading(SlowGrader(0.0), src, ref)
    out = tmp_path / "out.jsonl"
    good = lines(ref)
    out.write_bytes(b"\n".join(good[:2]))
    run_grading(SlowGrader(0.0), src, out)
    assert lines(out) == good


def test_corruption_in_the_middle_names_the_line(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src, 4)
    out = tmp_path / "out.jsonl"
    run_grading(SlowGrader(0.0), src, out)
    data = lines(out)
    data[1] = data[1][:20]
    out.write_bytes(b"\n".join(data) + b"\n")
    with pytest.raises(DataError, match=r"out\.jsonl:2"):
        run_grading(SlowGrader(0.0), src, out)


def test_other_configuration_is_refused(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src, 3)
    out = tmp_path / "out.jsonl"
    run_grading(SlowGrader(0.0), src, out)
    other = SlowGrader(0.0)
    other.config = {"rule": "something else"}
    with pytest.raises(ConfigError, match="another configuration"):
        run_grading(other, src, out)


class DropOdd(SlowGrader):
    name = "dropodd"

    def grade(self, trajectories):
        for t in super().grade(trajectories):
            if int(t.id[1:]) % 2 == 0:
                yield t


def test_dropped_trajectories_are_listed_and_skipped_on_resume(tmp_path):
    src = tmp_path / "in.jsonl"
    make_input(src, 6)
    out = tmp_path / "out.jsonl"
    s1 = run_grading(DropOdd(0.0), src, out, batch_size=4)
    assert (s1.graded, s1.dropped, s1.read) == (3, 3, 6)
    assert [orjson.loads(x)["id"] for x in lines(dropped_path(out))] == ["t1", "t3", "t5"]
    s2 = run_grading(DropOdd(0.0), src, out)
    assert (s2.graded, s2.dropped, s2.already_done) == (0, 0, 6)


def test_output_must_be_jsonl(tmp_path):
    with pytest.raises(ConfigError, match="jsonl"):
        run_grading(SlowGrader(0.0), tmp_path / "in.jsonl", tmp_path / "out.parquet")


class FailsOn(SlowGrader):
    """A grader whose model call fails for good on one trajectory (as an HTTP backend does)."""

    name = "slow"

    def __init__(self, bad: str) -> None:
        super().__init__(0.0)
        self.bad = bad

    def grade(self, trajectories):
        batch = list(trajectories)
        if any(t.id == self.bad for t in batch):
            from stepsieve import BackendError

            raise BackendError("http://x/v1/completions: HTTP 500: boom; 3 of 4 requests of this call finished",
                               backend="openai", url="http://x/v1")
        yield from super().grade(batch)


def test_a_failed_model_call_names_the_trajectories_left_ungraded_and_a_rerun_finishes(tmp_path):
    from stepsieve import BackendError

    src = tmp_path / "in.jsonl"
    make_input(src, 6)
    ref = tmp_path / "ref.jsonl"
    run_grading(SlowGrader(0.0), src, ref)
    out = tmp_path / "out.jsonl"
    with pytest.raises(BackendError) as err:
        run_grading(FailsOn("t3"), src, out, batch_size=2)
    msg = str(err.value)
    assert msg.startswith("not graded: trajectories t2, t3: http://x/v1/completions: HTTP 500: boom")
    assert "2 graded records" in msg and "re-run the same command" in msg
    assert err.value.records == ["t2", "t3"] and err.value.url == "http://x/v1"
    assert lines(out) == lines(ref)[:2]
    run_grading(SlowGrader(0.0), src, out, batch_size=2)
    assert lines(out) == lines(ref)
