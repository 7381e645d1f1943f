"""The Ray engine against the local engine, and the HTTP backend against 1, 2, 4 servers; prints JSON.

1. ``engine``: the same grading job (mc first-error on sampled ``arith`` trajectories, the
   embedded policy in process, one torch thread per worker), side by side in one run:
   - ``local``: ``run_grading`` in this process;
   - ``ray_1``: ``run_grading_ray`` with one worker — the same sequential compute, so
     ``ray_1 / local`` is the engine's overhead (shipping shards, parts, merge, the worker's
     start and model load);
   - ``ray_2``: two workers on the machine's 2 CPUs;
   each on a cluster already up (what a job on a running cluster pays); the cluster's start is
   timed on its own (``cluster_start_s``), and so is each job's worker start (every worker
   up with its grader and model built, ``worker_startup_s``): a fixed cost per job that a
   long job amortises, reported apart from the rest. Outputs are checked equal to the local
   run's (labels without their wall seconds). ``--reps`` alternates the arms.
2. ``http`` (unless ``--servers ''``): K real vLLM CPU servers on 127.0.0.1 serving the
   embedded policy; for each k in ``--servers``, one client with ``--base-url`` × k (the
   server pool: least outstanding requests) sends ``--requests`` seeded completions at
   ``--concurrency``: requests/s, tokens/s, latency, and the client's own CPU per request
   (the per-request figures docs/scale.md's cluster estimate is built on). All servers share
   this machine's cores, so k > 1 measures contention here, not a cluster's scaling.
3. ``replicas`` (``--replicas 1,2,4``): what the client side does with k replicas when each
   replica has its own hardware, which 2 shared cores cannot give k vLLM servers. Each replica
   is an HTTP server on 127.0.0.1 that behaves as a saturated GPU replica does to its clients:
   at most ``--slots`` requests served at once, each taking ``--service-ms`` (the rest queue).
   One client (``--base-url`` × k, least outstanding requests) sends ``--requests`` requests
   at ``--concurrency``: requests/s per k and the ratio to one replica (ideal: k), and how
   evenly the pool spread them. This measures stepsieve's spreading, not a model server.

Usage: python benchmarks/scale.py [--trajectories 24] [--n 8] [--reps 1] [--servers 1,2] [--out FILE]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.engine import RayOptions, run_grading, run_grading_ray  # noqa: E402
from stepsieve.formats import write_trajectories  # noqa: E402


def make_mc(n: int, seed: int):
    """The grader each arm builds: mc first-error with the embedded policy, one torch thread."""
    import torch

    from stepsieve.backends.transformers import TransformersBackend
    from stepsieve.graders.mc import MCGrader
    from stepsieve.worlds import get_world

    torch.set_num_threads(1)
    return MCGrader(TransformersBackend(), get_world("arith"), n=n, mode="first-error", seed=seed)


def labels(path: Path) -> list[dict]:
    recs = [orjson.loads(x) for x in path.read_bytes().splitlines()]
    for r in recs:
        for s in r["steps"]:
            for lab in (s.get("labels") or {}).values():
                (lab.get("cost") or {}).pop("seconds", None)
    return recs


def sample_input(path: Path, count: int, seed: int) -> None:
    from stepsieve.backends.transformers import TransformersBackend
    from stepsieve.sampling import sample
    from stepsieve.worlds import get_world

    ts = list(sample(get_world("arith"), TransformersBackend(), count, seed, knobs={"ops": (4, 6)}))
    write_trajectories(ts, path)


def bench_engine(tmp: Path, count: int, n: int, seed: int, reps: int, batch_size: int) -> dict:
    import ray
    import torch

    torch.set_num_threads(1)
    src = tmp / "in.jsonl"
    sample_input(src, count, seed)
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}})
    cluster_start = time.perf_counter() - t0
    make = functools.partial(make_mc, n, seed)
    walls: dict[str, list[float]] = {"local": [], "ray_1": [], "ray_2": []}
    starts: dict[str, list[float]] = {"ray_1": [], "ray_2": []}
    shard = max(batch_size, (count // 8) // batch_size * batch_size)  # ≥ 8 shards: both workers stay busy
    equal = True
    calls = 0
    try:
        for rep in range(reps):
            out = tmp / f"local{rep}.jsonl"
            t0 = time.perf_counter()
            g = make()
            run_grading(g, src, out, batch_size=batch_size)
            walls["local"].append(time.perf_counter() - t0)
            calls = g.backend.cost.calls
            ref = labels(out)
            for arm, actors in (("ray_1", 1), ("ray_2", 2)):
                rout = tmp / f"{arm}_{rep}.jsonl"
                t0 = time.perf_counter()
                _, info = run_grading_ray(make, src, rout, batch_size=batch_size,
                                          ray_options=RayOptions(actors=actors, shard_size=shard))
                walls[arm].append(time.perf_counter() - t0)
                starts[arm].append(info["startup_s"])
                equal = equal and labels(rout) == ref
    finally:
        ray.shutdown()
    med = {k: statistics.median(v) for k, v in walls.items()}
    start = {k: statistics.median(v) for k, v in starts.items()}
    after = {k: med[k] - start[k] for k in start}  # the job once every worker holds its model
    return {
        "job": f"mc first-error n={n} on {count} arith trajectories (4-6 ops), embedded policy, batch {batch_size}",
        "model_calls": calls, "shard_size": shard, "reps": reps, "cluster_start_s": cluster_start,
        "wall_s": walls, "median_wall_s": med,
        "worker_startup_s": start, "wall_after_startup_s": after,
        "overhead_ray_1_over_local": med["ray_1"] / med["local"],
        "overhead_ray_1_over_local_after_startup": after["ray_1"] / med["local"],
        "speedup_ray_2_over_local": med["local"] / med["ray_2"],
        "speedup_ray_2_over_local_after_startup": med["local"] / after["ray_2"],
        "same_labels_as_local": equal,
    }


def bench_http(tmp: Path, servers: list[int], requests: int, concurrency: int, max_tokens: int) -> dict:
    from stepsieve.backends._server import VLLMServer, vllm_python
    from stepsieve.backends._tiny_model import embedded_policy_dir
    from stepsieve.backends.openai import OpenAIBackend

    k_max = max(servers)
    procs = [VLLMServer(vllm_python(ROOT), embedded_policy_dir(), tmp / f"vllm{i}", startup_timeout=1200)
             for i in range(k_max)]
    errors: list[BaseException] = []

    def start(s: VLLMServer) -> None:
        try:
            s.start()
        except Exception as e:  # noqa: BLE001 — reported in the JSON
            errors.append(e)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=start, args=(s,)) for s in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out: dict = {"servers_started": k_max - len(errors), "start_s": time.perf_counter() - t0,
                 "requests": requests, "concurrency": concurrency, "max_tokens": max_tokens}
    try:
        if errors:
            out["error"] = str(errors[0])[-2000:]
            return out
        prompts = [f"Question {k}: what is {k}+{2 * k}?\nStep 1:" for k in range(requests)]
        for k in servers:
            urls = [s.base_url for s in procs[:k]]
            be = OpenAIBackend("policy", base_url=urls if k > 1 else urls[0], concurrency=concurrency,
                               timeout=300, progress=False)
            be.generate(prompts[:4], max_tokens=4, temperature=0.0)  # connections + warm-up
            be.cost = type(be.cost)()
            lat: list[float] = []
            cpu0, t0 = time.process_time(), time.perf_counter()
            res = be.generate(prompts, max_tokens=max_tokens, temperature=1.0, seed=7)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            toks = sum(g.tokens for row in res for g in row)
            lat.append(wall)
            row = {"wall_s": wall, "requests_per_s": requests / wall, "tokens_out_per_s": toks / wall,
                   "tokens_out": toks, "mean_latency_s": wall * concurrency / requests,
                   "client_cpu_ms_per_request": 1000 * cpu / requests}
            if k > 1:
                row["per_server_requests"] = [s["requests"] for s in be.summary()["servers"]]
            out[f"servers_{k}"] = row
        base = out[f"servers_{servers[0]}"]["requests_per_s"]
        out["throughput_ratios"] = {f"{k}_over_{servers[0]}": out[f"servers_{k}"]["requests_per_s"] / base
                                    for k in servers}
    finally:
        for s in procs:
            s.stop()
    return out


def _serve_replica(slots: int, service_s: float, port_q: object) -> None:
    """A child process: an OpenAI-compatible completions server with ``slots`` requests served
    at once, each taking ``service_s``; requests beyond the slots wait (a saturated replica)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    gate = threading.BoundedSemaphore(slots)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's server

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
            with gate:
                time.sleep(service_s)
            n = int(body.get("n", 1))
            data = orjson.dumps({"choices": [{"index": j, "text": " 42", "finish_reason": "stop"} for j in range(n)],
                                 "usage": {"prompt_tokens": 8, "completion_tokens": 2 * n}})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # a client opens up to --concurrency connections at once
        daemon_threads = True

    httpd = Server(("127.0.0.1", 0), Handler)
    port_q.put(httpd.server_address[1])  # type: ignore[attr-defined]
    httpd.serve_forever()


def bench_replicas(ks: list[int], requests: int, concurrency: int, slots: int, service_ms: float) -> dict:
    import multiprocessing

    from stepsieve.backends.openai import OpenAIBackend

    out: dict = {"requests": requests, "concurrency": concurrency, "slots_per_replica": slots,
                 "service_ms": service_ms, "ideal_requests_per_s_per_replica": slots * 1000 / service_ms}
    ctx = multiprocessing.get_context("spawn")
    for k in ks:
        q = ctx.Queue()
        procs = [ctx.Process(target=_serve_replica, args=(slots, service_ms / 1000, q), daemon=True) for _ in range(k)]
        for p in procs:
            p.start()
        try:
            urls = [f"http://127.0.0.1:{q.get(timeout=60)}/v1" for _ in procs]
            be = OpenAIBackend("sim", base_url=urls if k > 1 else urls[0], concurrency=concurrency, timeout=300,
                               progress=False)
            prompts = [f"q{i}" for i in range(requests)]
            be.generate(prompts[:8], max_tokens=2, temperature=1.0, seed=0)  # connections
            cpu0, t0 = time.process_time(), time.perf_counter()
            be.generate(prompts, max_tokens=2, temperature=1.0, seed=1)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            row: dict = {"wall_s": wall, "requests_per_s": requests / wall,
                         "client_cpu_ms_per_request": 1000 * cpu / requests}
            if k > 1:
                row["per_replica_requests"] = [srv["requests"] for srv in be.summary()["servers"]]
            out[f"replicas_{k}"] = row
        finally:
            for p in procs:
                p.terminate()
                p.join()
    base = out[f"replicas_{ks[0]}"]["requests_per_s"]
    out["throughput_ratios"] = {f"{k}_over_{ks[0]}": out[f"replicas_{k}"]["requests_per_s"] / base for k in ks}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trajectories", type=int, default=24)
    ap.add_argument("--n", type=int, default=8, help="mc rollouts per probe")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--servers", default="1,2", help="server counts for the HTTP part, e.g. 1,2,4; '' to skip")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--replicas", default="", help="replica counts for the client-side part, e.g. 1,2,4")
    ap.add_argument("--slots", type=int, default=4, help="requests a simulated replica serves at once")
    ap.add_argument("--service-ms", type=float, default=200.0, help="a simulated replica's time per request")
    ap.add_argument("--skip-engine", action="store_true")
    ap.add_argument("--out", help="also write the JSON here (e.g. benchmarks/results/scale.json)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stepsieve-scale-"))
    result: dict = {"machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()[0]}}
    if not args.skip_engine:
        result["engine"] = bench_engine(tmp, args.trajectories, args.n, args.seed, args.reps, args.batch_size)
    if args.servers:
        ks = [int(x) for x in args.servers.split(",")]
        result["http"] = bench_http(tmp, ks, args.requests, args.concurrency, args.max_tokens)
    if args.replicas:
        ks = [int(x) for x in args.replicas.split(",")]
        result["replicas"] = bench_replicas(ks, args.requests, args.concurrency, args.slots, args.service_ms)
    result["machine"]["loadavg_at_end"] = os.getloadavg()[0]
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
