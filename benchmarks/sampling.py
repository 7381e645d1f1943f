"""Sampling throughput of the embedded policy: batched vs one task at a time, same run.

    python benchmarks/sampling.py --n 64 --world arith --ops 4-6

Prints JSON: trajectories/s and generated tokens/s for each mode and their ratio. Both
modes sample the same tasks with the same seed (and so produce the same trajectories,
which the script checks), so the ratio is the speed-up of batching alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from stepsieve.backends import BACKENDS
from stepsieve.sampling import sample, summarize
from stepsieve.worlds import get_world


def run(world, backend, n: int, seed: int, knobs: dict, batch_size: int, temperature: float) -> dict:
    t0 = time.perf_counter()
    ts = list(sample(world, backend, n, seed, knobs=knobs, batch_size=batch_size, temperature=temperature))
    dt = time.perf_counter() - t0
    tokens = sum(t.meta["tokens_out"] for t in ts)
    return {
        "batch_size": batch_size,
        "seconds": round(dt, 3),
        "trajectories_per_s": round(len(ts) / dt, 3),
        "tokens_per_s": round(tokens / dt, 1),
        "tokens": tokens,
        "accuracy": summarize(ts)["accuracy"],
        "_records": [t.to_dict() for t in ts],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", default="arith", choices=["arith", "toolcalc"])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--ops", default="4-6")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    lo, _, hi = args.ops.partition("-")
    knobs = {"ops": (int(lo), int(hi or lo))}
    world = get_world(args.world)
    backend = BACKENDS.get("transformers")(None)
    sample(world, backend, 1, 999, knobs=knobs)  # warm-up (lazy imports, first allocations)
    list(sample(world, backend, 2, 999, knobs=knobs))
    batched = run(world, backend, args.n, args.seed, knobs, args.batch_size, args.temperature)
    single = run(world, backend, args.n, args.seed, knobs, 1, args.temperature)
    same = batched.pop("_records") == single.pop("_records")
    print(json.dumps({
        "benchmark": "sampling",
        "world": args.world,
        "n": args.n,
        "ops": args.ops,
        "temperature": args.temperature,
        "model": backend.model,
        "batched": batched,
        "one_at_a_time": single,
        "speedup_trajectories": round(batched["trajectories_per_s"] / single["trajectories_per_s"], 2),
        "speedup_tokens": round(batched["tokens_per_s"] / single["tokens_per_s"], 2),
        "identical_outputs": same,
    }, indent=1))


if __name__ == "__main__":
    main()
