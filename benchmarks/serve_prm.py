"""Load on ``stepsieve serve-prm``: requests/s and p50/p99 latency at concurrency 1 / 8 / 32.

    python benchmarks/serve_prm.py [--model DIR] [--requests 96] [--concurrency 1,8,32] [--threads 2]

Starts ``stepsieve serve-prm`` as its own process on 127.0.0.1 (a free port), sends a bounded
number of OpenRLHF-shaped requests (one query each, as OpenRLHF's client sends them: 4-6-step
arith solutions of the reference solver) from client threads, and reads the server's batch
count from ``/health``. The same trajectories scored in the benchmark's own process (one at a
time, and in one call) give the floor the server's latency is read against. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _post(url: str, body: bytes) -> float:
    t0 = time.perf_counter()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        json.loads(r.read())
    return time.perf_counter() - t0


def _bodies(n: int) -> list[bytes]:
    from stepsieve.worlds import get_world

    world = get_world("arith")
    out = []
    for t in world.sample_tasks(n, 4242, ops=(4, 6)):
        prompt = world.prompt(t)
        query = prompt + "\n".join(world.reference(t))
        out.append(json.dumps({"query": [query], "prompts": [prompt], "labels": [t.answer]}).encode())
    return out


def _in_process(model: str | None, n: int, threads: int) -> dict:
    """The same trajectories scored in this process: one at a time, and all in one call."""
    import torch

    from stepsieve.prm import load_scorer, task_from_prompt, text_to_trajectory

    torch.set_num_threads(threads)
    loaded = load_scorer(model, device="cpu", batch_size=64)
    trajs = []
    for b in _bodies(n):
        body = json.loads(b)
        prompt = body["prompts"][0]
        trajs.append(
            text_to_trajectory(
                task_from_prompt(prompt, loaded.template), body["query"][0][len(prompt) :], loaded.separator
            )
        )
    loaded.scorer.score_steps(trajs[:1])
    t0 = time.perf_counter()
    for t in trajs:
        loaded.scorer.score_steps([t])
    one = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    loaded.scorer.score_steps(trajs)
    return {
        "one_at_a_time_ms": round(1000 * one, 1),
        "batched_ms_per_trajectory": round(1000 * (time.perf_counter() - t0) / n, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--model", default=None, help="StepRM or implicit PRM directory (default: the embedded StepRM)"
    )
    ap.add_argument("--requests", type=int, default=96, help="requests per concurrency level")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    ap.add_argument("--max-batch", type=int, default=64)
    args = ap.parse_args()
    baseline = _in_process(args.model, args.requests, args.threads)
    print(json.dumps({"in_process": baseline}), file=sys.stderr, flush=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        "-c",
        "from stepsieve.cli import main; main()",
        "serve-prm",
        *([args.model] if args.model else []),
        "--port",
        str(port),
        "--max-batch",
        str(args.max_batch),
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                health = _get(url + "/health")
                break
            except OSError as e:
                if server.poll() is not None or time.time() > deadline:
                    err = server.stderr.read() if server.stderr else ""
                    raise SystemExit(f"server did not start: {err}") from e
                time.sleep(0.2)
        bodies = _bodies(args.requests)
        _post(url + "/get_reward", bodies[0])  # warm-up
        levels = []
        for c in (int(x) for x in args.concurrency.split(",")):
            before = _get(url + "/health")
            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=c) as pool:
                lat = sorted(pool.map(lambda b: _post(url + "/get_reward", b), bodies))
            wall = time.perf_counter() - t0
            after = _get(url + "/health")
            batches = after["batches"] - before["batches"]
            levels.append(
                {
                    "concurrency": c,
                    "requests": len(bodies),
                    "seconds": round(wall, 3),
                    "requests_per_s": round(len(bodies) / wall, 1),
                    "p50_ms": round(1000 * statistics.median(lat), 1),
                    "p99_ms": round(1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                    "scoring_batches": batches,
                    "mean_batch": round(len(bodies) / max(1, batches), 2),
                }
            )
            print(json.dumps(levels[-1]), file=sys.stderr, flush=True)
        print(
            json.dumps(
                {
                    "benchmark": "serve_prm",
                    "model": health["model"],
                    "kind": health["kind"],
                    "server_threads": args.threads,
                    "in_process": baseline,
                    "levels": levels,
                },
                indent=2,
            )
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
