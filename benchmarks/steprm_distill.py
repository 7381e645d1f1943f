"""Distil Monte Carlo labels into the embedded StepRM, and measure it against the truth.

    python benchmarks/steprm_distill.py --out runs/distill [--ship]

1. sample ``--train + --test`` trajectories (one per task) from the policy on ``arith``;
2. grade them with ``mc`` (first-error binary search, ``--mc-n`` rollouts per probe);
3. train a StepRM on the policy's backbone from the TRAIN split's ``mc`` labels only (the
   ``truth`` labels are removed before training; the threshold is picked on a dev part of
   the train split against ``mc``);
4. grade the TEST split with the StepRM; evaluate ``mc`` and ``prm`` against ``truth``
   there (ProcessBench first-error F1) with their cost per trajectory.

Writes a RUN_DIR (graded.jsonl = test split with truth/mc/prm labels, eval.json, steprm/,
summary.json) that ``stepsieve report`` renders, and prints the figures as JSON. ``--ship``
copies the checkpoint into src/stepsieve/embedded/steprm/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from stepsieve.backends.transformers import TransformersBackend
from stepsieve.evaluate import evaluate
from stepsieve.graders.mc import MCGrader
from stepsieve.prm import PRMGrader, TrainOptions, default_model_dir, train_prm
from stepsieve.sampling import sample
from stepsieve.trajectory import write_trajectories
from stepsieve.worlds import get_world

ROOT = Path(__file__).resolve().parent.parent


def _cost(rep: dict) -> dict:
    per = rep["cost"]["per_trajectory"]
    return {"calls": per["calls"], "tokens": per["tokens_in"] + per["tokens_out"], "seconds": per["seconds"]}


def _log(msg: str) -> None:
    print(f"[distill] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", type=Path, default=ROOT / "src/stepsieve/embedded/policy")
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--ops", default="3-6")
    ap.add_argument("--mc-n", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--soft", action="store_true", help="train on the MC values (soft) instead of verdicts")
    ap.add_argument("--max-tokens", type=int, default=160, help="per sampled solution / rollout (arith needs < 120)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/distill")
    ap.add_argument("--lr", type=float, default=TrainOptions.lr)
    ap.add_argument("--ship", action="store_true")
    args = ap.parse_args()
    lo, _, hi = args.ops.partition("-")
    knobs = {"ops": (int(lo), int(hi or lo))}
    args.out.mkdir(parents=True, exist_ok=True)
    world = get_world("arith")
    backend = TransformersBackend(args.policy)
    stages = []

    t0 = time.perf_counter()
    trajs = list(sample(world, backend, args.train + args.test, args.seed, knobs=knobs, max_tokens=args.max_tokens))
    _log(f"sampled {len(trajs)}")
    stages.append({"name": "sample", "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(trajs)})

    t0 = time.perf_counter()
    mc = MCGrader(backend, world, n=args.mc_n, mode="first-error", seed=args.seed, max_tokens=args.max_tokens)
    graded = list(mc.grade(trajs))
    stages.append({"name": "grade mc first-error", "seconds": round(time.perf_counter() - t0, 1),
                   "trajectories": len(graded)})
    _log(f"graded mc: {stages[-1]}")
    train, test = graded[: args.train], graded[args.train :]

    # The StepRM never sees the truth: train on copies without it.
    blind = []
    for t in train:
        d = t.to_dict()
        for s in d["steps"]:
            s.get("labels", {}).pop("truth", None)
        blind.append(type(t).from_dict(d))
    t0 = time.perf_counter()
    model = train_prm(blind, base=args.policy, out=args.out / "steprm", label="mc", soft=args.soft,
                      options=TrainOptions(epochs=args.epochs, lr=args.lr, seed=args.seed), device="cpu", progress=True,
                      source=f"mc labels of {len(blind)} policy samples")
    stages.append({"name": "train StepRM", "seconds": round(time.perf_counter() - t0, 1),
                   "examples": model.config.training["examples"]})

    t0 = time.perf_counter()
    prm = PRMGrader(args.out / "steprm", device="cpu", batch_size=32)
    test = list(prm.grade(test))
    stages.append({"name": "grade prm", "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(test)})

    evals = {name: evaluate(test, name, "truth") for name in ("mc", "prm")}
    write_trajectories(test, args.out / "graded.jsonl")
    (args.out / "eval.json").write_text(json.dumps(evals, indent=2) + "\n")
    (args.out / "summary.json").write_text(json.dumps({"stages": stages}, indent=2) + "\n")
    f1 = {k: v["processbench"]["average_f1"] for k, v in evals.items()}
    cost = {k: _cost(v) for k, v in evals.items()}
    result = {
        "benchmark": "steprm_distill",
        "world": "arith",
        "knobs": {"ops": list(knobs["ops"])},
        "train_trajectories": len(train),
        "test_trajectories": len(test),
        "test_final_answer_accuracy": sum(bool(t.outcome.correct) for t in test) / len(test),
        "mc": {"n": args.mc_n, "mode": "first-error", "f1_vs_truth": f1["mc"], "cost_per_trajectory": cost["mc"]},
        "prm": {"trained_on": "mc", "soft": args.soft, "threshold": model.config.threshold,
                "f1_vs_truth": f1["prm"], "cost_per_trajectory": cost["prm"]},
        "cost_ratio_tokens": cost["mc"]["tokens"] / max(cost["prm"]["tokens"], 1e-9),
        "cost_ratio_seconds": cost["mc"]["seconds"] / max(cost["prm"]["seconds"], 1e-9),
        "stages": stages,
    }
    result["targets_met"] = {"prm_f1>=0.85": f1["prm"] >= 0.85,
                             "cost_ratio>=100 (seconds)": result["cost_ratio_seconds"] >= 100}
    (args.out / "distill.json").write_text(json.dumps(result, indent=2) + "\n")
    if args.ship:
        dest = default_model_dir()
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for f in (args.out / "steprm").iterdir():
            if f.suffix in (".json", ".safetensors"):
                shutil.copy2(f, dest / f.name)
        result["shipped_to"] = str(dest.relative_to(ROOT))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
