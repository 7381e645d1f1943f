"""I/O throughput of the canonical record: JSONL and Parquet paths vs bare orjson.

Generates a file of 1M steps (100k trajectories x 10 steps, realistic step texts, a
``truth`` label on every step, every fifth trajectory an agent run with observations),
then runs each path in its OWN subprocess so that its peak RSS is its own:

- ``orjson``          bare ``orjson.loads`` + ``orjson.dumps`` of every line (the floor)
- ``jsonl``           read_trajectories + write_trajectories, JSONL -> JSONL (validated records)
- ``parquet``         the same, Parquet -> Parquet
- ``jsonl_read`` / ``parquet_read``   reading alone

and prints one JSON object: steps/s, seconds and peak RSS (MB) per path, and the ratio of
each path's time to bare orjson's, all measured in the same run. The paths run
interleaved ``--repeat`` times and each keeps its best time (on a shared machine the
minimum is the least noisy estimate); peak RSS is the largest seen. Targets (issue 2): the
``jsonl`` path within 3x of ``orjson``; peak RSS under 300 MB on every path.

    python benchmarks/io_throughput.py [--steps 1000000] [--repeat 3] [--workdir DIR] [--baseline-src DIR]

``--baseline-src DIR`` runs every stepsieve path a second time with DIR (another release's
``src/``) first on PYTHONPATH, interleaved in the same run, as ``<path>@baseline``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS_PER_TRAJECTORY = 10
_WORDS = (
    "the total number of apples is then we subtract the cost per item so each box holds "
    "which gives us remaining amount after multiplying by rate equals hours minutes"
).split()


def _step_text(rng: random.Random) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(18, 34)))
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    return f"{words.capitalize()}: {a} * {b} = {a * b}."


def generate(path: Path, steps: int, seed: int = 0) -> int:
    """Write ``steps`` steps of canonical JSONL (written with orjson, not timed; schema
    version 1, which every release since reads, so a ``--baseline-src`` tree reads it too)."""
    import orjson

    rng = random.Random(seed)
    n = steps // STEPS_PER_TRAJECTORY
    with open(path, "wb") as fh:
        for i in range(n):
            agent = i % 5 == 0
            ss = []
            for j in range(STEPS_PER_TRAJECTORY):
                ok = rng.random() < 0.85
                s = {"index": j, "text": _step_text(rng), "kind": "action" if agent else "reasoning",
                     "labels": {"truth": {"score": 1.0 if ok else 0.0, "verdict": "correct" if ok else "incorrect"}}}
                if agent:
                    s["observation"] = str(rng.randint(0, 10**6))
                ss.append(s)
            d = {"schema_version": 1, "id": f"bench-{i}", "task": _step_text(rng), "steps": ss,
                 "outcome": {"answer": str(rng.randint(0, 999)), "correct": rng.random() < 0.5, "reward": None},
                 "reference": None, "meta": {"source": "benchmark", "seed": seed}}
            fh.write(orjson.dumps(d, option=orjson.OPT_APPEND_NEWLINE))
    return n * STEPS_PER_TRAJECTORY


# ---- one path, run inside its own process ---------------------------------------------------


def _run_path(name: str, src: str, dst: str) -> dict[str, float]:
    t0 = time.perf_counter()
    if name == "orjson":
        import orjson

        loads, dumps = orjson.loads, orjson.dumps
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            for line in fin:
                fout.write(dumps(loads(line), option=orjson.OPT_APPEND_NEWLINE))
    else:
        try:
            from stepsieve.formats import read_trajectories, write_trajectories
        except ImportError:  # a --baseline-src tree from before readers moved to formats
            from stepsieve.trajectory import (  # type: ignore[attr-defined,no-redef]
                read_trajectories,
                write_trajectories,
            )

        if name.endswith("_read"):
            for _ in read_trajectories(src):
                pass
        else:
            write_trajectories(read_trajectories(src), dst)
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"seconds": seconds, "peak_rss_mb": rss_mb}


def _subprocess(name: str, src: Path, dst: Path, pythonpath: str | None = None) -> dict[str, float]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        [sys.executable, __file__, "--_path", name.removesuffix("@baseline"), "--_src", str(src), "--_dst", str(dst)],
        check=True, capture_output=True, text=True, env=env,
    )
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--baseline-src", default=None,
                    help="another stepsieve src/ tree (e.g. a previous release) run side by side as <path>@baseline")
    ap.add_argument("--_path", help=argparse.SUPPRESS)
    ap.add_argument("--_src", help=argparse.SUPPRESS)
    ap.add_argument("--_dst", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._path:
        print(json.dumps(_run_path(args._path, args._src, args._dst)))
        return

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        d = Path(tmp)
        src = d / "in.jsonl"
        steps = generate(src, args.steps)
        pq_src = d / "in.parquet"
        _subprocess("jsonl", src, pq_src)  # builds the Parquet input (not reported)
        plan = [
            ("orjson", src, d / "o.jsonl"),
            ("jsonl", src, d / "j.jsonl"),
            ("parquet", pq_src, d / "p.parquet"),
            ("jsonl_read", src, d / "-"),
            ("parquet_read", pq_src, d / "-"),
        ]
        if args.baseline_src:  # the baseline reads its own Parquet (a schema it knows); JSONL is version 1
            pq_base = d / "in_base.parquet"
            _subprocess("jsonl@baseline", src, pq_base, args.baseline_src)
            plan += [(f"{n}@baseline", pq_base if s == pq_src else s, t) for n, s, t in plan if n != "orjson"]
        results: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for name, s, t in plan:
                r = _subprocess(name, s, t, args.baseline_src if name.endswith("@baseline") else None)
                best = results.setdefault(name, r)
                best["seconds"] = min(best["seconds"], r["seconds"])
                best["peak_rss_mb"] = max(best["peak_rss_mb"], r["peak_rss_mb"])
        base = results["orjson"]["seconds"]
        report = {
            "steps": steps,
            "repeat": args.repeat,
            "trajectories": steps // STEPS_PER_TRAJECTORY,
            "jsonl_mb": round(src.stat().st_size / 2**20, 1),
            "parquet_mb": round(pq_src.stat().st_size / 2**20, 1),
            "paths": {
                name: {
                    "steps_per_s": round(steps / r["seconds"]),
                    "seconds": round(r["seconds"], 2),
                    "peak_rss_mb": round(r["peak_rss_mb"], 1),
                    "time_vs_orjson": round(r["seconds"] / base, 2),
                }
                for name, r in results.items()
            },
        }
        report["targets"] = {
            "jsonl_within_3x_of_orjson": report["paths"]["jsonl"]["time_vs_orjson"] <= 3.0,
            "peak_rss_under_300mb": all(p["peak_rss_mb"] < 300 for p in report["paths"].values()),
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
