"""Grading jobs against the real vLLM test server, directly and through a fault-injecting
proxy (issue 17): mc at the default concurrency 8, kill -9 and resume, --max-cost, HTTP
faults, a server that dies. Each job either completes with the labels of an uninterrupted
run, or stops naming exactly the trajectories it did not grade, and the next run finishes
them with the labels an uninterrupted run writes (wall seconds aside: they are measured)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest
from _cli import run_cli

from .conftest import CLI, arith_input, ids, normalized

MC = ["--grader", "mc", "-o", "world=arith", "-o", "mode=first-error", "-o", "max_tokens=32",
      "--backend", "openai", "--model", "policy", "-q"]
N_TRAJ = 6


def _cli_proc(argv: list, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *map(str, argv)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def job(vllm_server, tmp_path_factory):
    """The input and an uninterrupted n=2 run of it straight to the server (no cache)."""
    d = tmp_path_factory.mktemp("vllm-job")
    src = d / "in.jsonl"
    arith_input(src, N_TRAJ)
    ref = d / "ref.jsonl"
    p = _cli_proc(["grade", src, ref, *MC, "-o", "n=2", "--base-url", vllm_server.base_url, "--no-cache"])
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-3000:]
    assert len(ids(ref)) == N_TRAJ
    return src, ref


def test_mc_n8_at_concurrency_8_survives_the_cpu_server_and_is_deterministic(vllm_server, job, tmp_path, own_cache,
                                                                          capsys):
    # Before: seeded n=8 requests, 8 at a time, killed vLLM's CPU engine on the first batch
    # ("CPU Generator does not use offset"). Now each sample is its own request (seed + j).
    src, _ = job
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    args = [*MC, "-o", "n=8", "--base-url", vllm_server.base_url, "--concurrency", "8", "--batch-size", "8"]
    code, _, err = run_cli(["grade", src, a, *args, "--no-cache"], capsys)
    assert code == 0, err + vllm_server.log_tail()
    assert httpx.get(vllm_server.base_url.removesuffix("/v1") + "/health", timeout=5).status_code == 200
    code, _, err = run_cli(["grade", src, b, *args], capsys)  # again, another run: same labels
    assert code == 0, err
    assert normalized(a) == normalized(b) and len(ids(a)) == N_TRAJ


def test_kill_9_mid_job_then_resume_equals_uninterrupted(vllm_server, job, tmp_path):
    src, ref = job
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "STEPSIEVE_CACHE_DIR": str(tmp_path / "cache")}
    argv = ["grade", src, out, *MC, "-o", "n=2", "--base-url", vllm_server.base_url, "--batch-size", "1"]
    p = _cli_proc(argv, env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(ids(out)) < 2 and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert 2 <= len(ids(out)) < N_TRAJ, "the kill must land mid-job"
    p = _cli_proc(argv, env)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err.decode()[-2000:]
    assert normalized(out) == normalized(ref)  # 0 lost, 0 duplicated, same order, same labels


def test_max_cost_stops_cleanly_and_the_cached_probes_resume_with_their_tokens(vllm_server, job, tmp_path,
                                                                            own_cache, capsys):
    src, ref = job
    out = tmp_path / "out.jsonl"
    args = ["grade", src, out, *MC, "-o", "n=2", "--base-url", vllm_server.base_url, "--concurrency", "8",
            "--batch-size", "3"]
    # One request reserves ~200 prompt characters + 32 tokens; eight at once would reserve more
    # than 1500, which used to stop the job before any request was sent.
    code, _, err = run_cli([*args, "--max-cost", "tokens=1500"], capsys)
    assert code == 2 and "budget exceeded" in err and "not graded: trajectories" in err, err
    written = ids(out)
    assert normalized(out) == normalized(ref)[: len(written)]  # what is written is whole and right
    assert any(f"a{i}" in err for i in range(len(written), N_TRAJ))
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    # Probes answered from the cache keep their prompt tokens: byte-identical but for seconds.
    assert normalized(out) == normalized(ref)


def test_transient_http_faults_are_retried_and_the_job_completes(fault_proxy, job, tmp_path, own_cache, capsys):
    src, ref = job
    fault_proxy.script = [429, 500, 503, "slow", "reset", "truncated", "malformed", "down"]
    fault_proxy.slow_s, fault_proxy.down_s = 5.0, 1.0
    out = tmp_path / "out.jsonl"
    code, _, err = run_cli(["grade", src, out, *MC, "-o", "n=2", "--base-url", fault_proxy.base_url,
                            "--timeout", "4"], capsys)
    assert code == 0, err
    assert set(fault_proxy.applied) >= {429, 500, 503, "slow", "reset", "truncated", "malformed", "down"}
    assert normalized(out, server_hash=False) == normalized(ref, server_hash=False)


def test_a_record_that_keeps_failing_is_named_and_the_next_run_finishes_it(fault_proxy, job, tmp_path, own_cache,
                                                                         capsys):
    src, ref = job
    from stepsieve.formats import read_trajectories

    bad = next(t for t in read_trajectories(src) if t.id == "a3")
    fault_proxy.match = {bad.task: 500}
    out = tmp_path / "out.jsonl"
    args = ["grade", src, out, *MC, "-o", "n=2", "--base-url", fault_proxy.base_url, "--batch-size", "2"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "not graded: trajectories a2, a3:" in err and "HTTP 500" in err, err
    assert "request 0 of" not in err
    assert ids(out) == ["a0", "a1"] and normalized(out, server_hash=False) == normalized(ref, server_hash=False)[:2]
    fault_proxy.match = {}
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert normalized(out, server_hash=False) == normalized(ref, server_hash=False)


def test_a_server_that_dies_is_reported_with_what_it_said_then_the_job_resumes(fault_proxy, job, tmp_path,
                                                                           own_cache, capsys):
    src, ref = job
    fault_proxy.script = ["pass"] * 3 + [503, "die"]
    out = tmp_path / "out.jsonl"
    args = ["grade", src, out, *MC, "-o", "n=2", "--base-url", fault_proxy.base_url, "--timeout", "2",
            "--batch-size", "2"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "died" in err and "HTTP 503" in err and "not graded: trajectories" in err, err
    fault_proxy.start()  # the server is back
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert normalized(out, server_hash=False) == normalized(ref, server_hash=False)
