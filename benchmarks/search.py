"""Majority vote vs PRM best-of-N vs PRM-weighted vote vs step-level beam search, on arith.

    python benchmarks/search.py [--tasks 100] [--ops 6-8] [--prm DIR] [--out search.json]

Uses the embedded policy and (by default) the embedded StepRM. The task difficulty is
chosen where the policy is below 50% accurate per sample; the pool is 16 samples per task,
the curves average random subsets for each N; beam search (4 beams x 4 candidates per beam
per step) and reward-guided greedy are placed at the N whose best-of-N spends the same
generated tokens. Prints the JSON of :func:`stepsieve.search.run_search` plus the target
check: PRM-weighted vote beats majority vote by >= 5 points at N = 16.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from stepsieve.backends.transformers import TransformersBackend
from stepsieve.prm import StepRM, StepRMScorer, default_model_dir
from stepsieve.search import Candidate, run_search, sample_candidates
from stepsieve.worlds import get_world

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", type=Path, default=ROOT / "src/stepsieve/embedded/policy")
    ap.add_argument("--prm", type=Path, default=default_model_dir())
    ap.add_argument("--tasks", type=int, default=100)
    ap.add_argument("--ops", default="6-8")
    ap.add_argument("--n", default="1,2,4,8,16")
    ap.add_argument("--beam", default="4x4")
    ap.add_argument("--greedy-expand", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--pool", type=Path, default=None,
                    help="JSONL cache of the sampled pool (one line per task): written when absent, rescored "
                         "with --prm when present (compare reward models on one pool)")
    ap.add_argument("--pool-only", action="store_true", help="stop after writing the --pool cache")
    args = ap.parse_args()
    lo, _, hi = args.ops.partition("-")
    world = get_world("arith")
    tasks = world.sample_tasks(args.tasks, 2000 + args.seed, ops=(int(lo), int(hi or lo)))
    ns = [int(x) for x in args.n.split(",")]
    backend = TransformersBackend(args.policy)
    pools = None
    if args.pool is not None and args.pool.is_file():
        pools = [[Candidate(**c) for c in json.loads(line)["pool"]] for line in args.pool.read_text().splitlines()]
        meta = json.loads(args.pool.with_suffix(".json").read_text())
        want = {"tasks": args.tasks, "ops": args.ops, "n": max(ns), "seed": args.seed}
        if meta != want:
            raise SystemExit(f"{args.pool} was sampled with {meta}, not {want}")
    elif args.pool is not None:
        pools = sample_candidates(tasks, world, backend, None, n=max(ns), max_tokens=256, temperature=1.0,
                                  seed=args.seed)
        args.pool.parent.mkdir(parents=True, exist_ok=True)
        args.pool.write_text("".join(json.dumps({"task": t.id, "pool": [asdict(c) for c in p]}) + "\n"
                                     for t, p in zip(tasks, pools)))
        args.pool.with_suffix(".json").write_text(json.dumps(
            {"tasks": args.tasks, "ops": args.ops, "n": max(ns), "seed": args.seed}))
    if args.pool_only:
        return
    scorer = StepRMScorer(StepRM.load(args.prm, device="cpu"), batch_size=64)
    beams = [tuple(int(x) for x in b.split("x")) for b in args.beam.split(",") if b]
    result = run_search(tasks, world, backend, scorer, ns=ns, beams=beams,
                        greedy_expand=args.greedy_expand or None, seed=args.seed, progress=True, pools=pools)
    result.update({"benchmark": "search", "world": "arith", "knobs": {"ops": [int(lo), int(hi or lo)]},
                   "prm": str(args.prm)})
    top = str(max(int(x) for x in args.n.split(",")))
    gain = result["curves"]["weighted_majority:min"][top] - result["curves"]["majority"][top]
    result["weighted_minus_majority_at_max_n"] = gain
    result["targets_met"] = {"policy_accuracy<0.5": result["policy_accuracy"] < 0.5,
                             "weighted_vote_beats_majority_by>=0.05": gain >= 0.05}
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
