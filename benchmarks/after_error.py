"""The one after-error rule, measured: a StepRM trained on the same mc labels with
``after_error="incorrect"`` (the default of train-prm and every export) and with ``"skip"``.

    python benchmarks/after_error.py --train 250 --test 150 --train-seeds 0,1,2 --save

Samples and mc-grades (first-error search, which leaves the steps after the first error
undecided) a train and a test split of the embedded ``arith`` world once (cached in --data,
the same cache layout as ``steprm_distill.py``), then trains two StepRMs side by side in one
process — same base, head, seed, epochs and examples (default: the shipped recipe, logprobs
head on the frozen policy then 2 joint epochs), only the rule differs — and reports
each one's ProcessBench first-error F1 against ``truth`` on the test split, the number of
step targets each trained on, and the ratio. Prints JSON; ``--save`` writes it under
benchmarks/results/. Embedded world only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from steprm_distill import ROOT, _cached_splits

from stepsieve.backends.transformers import TransformersBackend
from stepsieve.evaluate import evaluate
from stepsieve.prm import PRMGrader, TrainOptions, step_targets, train_prm
from stepsieve.trajectory import AFTER_ERROR_RULES
from stepsieve.worlds import Task, get_world


def _blind(ts: list) -> list:
    """Copies without the ``truth`` labels (the StepRM never sees them)."""
    out = []
    for t in ts:
        d = t.to_dict()
        for s in d["steps"]:
            s.get("labels", {}).pop("truth", None)
        out.append(type(t).from_dict(d))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", type=Path, default=ROOT / "src/stepsieve/embedded/policy")
    ap.add_argument("--data", type=Path, default=ROOT / "runs/after-error-data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/after-error")
    ap.add_argument("--train", type=int, default=250)
    ap.add_argument("--test", type=int, default=150)
    ap.add_argument("--ops", default="3-6")
    ap.add_argument("--mc-n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--epochs", type=int, default=20)  # defaults: the shipped recipe (README)
    ap.add_argument("--head", default="logprobs", choices=["linear", "policy", "logprobs"])
    ap.add_argument("--freeze-backbone", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--finetune-epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the data (sampling, mc)")
    ap.add_argument("--train-seeds", default="0", help="training seeds, comma-separated: each trains both arms")
    ap.add_argument("--save", action="store_true", help="write the JSON to benchmarks/results/")
    args = ap.parse_args()
    # what steprm_distill's data cache reads
    args.mc_rollout_check, args.mc_confirm, args.data_only, args.parts = None, False, False, ""

    import torch

    torch.set_num_threads(1)
    world = get_world("arith")
    stages: list = []
    train, test = _cached_splits(world, TransformersBackend(args.policy), args, stages)
    blind = _blind(train)
    template = world.prompt(Task("", "{task}", "", {}))  # the policy's own prompt, as the shipped recipe
    result: dict = {"benchmark": "after_error", "world": "arith (embedded)", "ops": args.ops, "mc_n": args.mc_n,
                    "train_trajectories": len(train), "test_trajectories": len(test), "head": args.head,
                    "epochs": args.epochs, "lr": args.lr, "freeze_backbone": args.freeze_backbone,
                    "finetune_epochs": args.finetune_epochs, "template": template, "seed": args.seed,
                    "data_stages": stages, "arms": {}}
    seeds = [int(x) for x in args.train_seeds.split(",")]
    result["train_seeds"] = seeds
    for seed in seeds:
        for rule in AFTER_ERROR_RULES:
            targets = [step_targets(t, "mc", soft=False, after_error=rule) for t in blind]
            t0 = time.perf_counter()
            out = args.out / f"{rule}-{seed}"
            options = TrainOptions(epochs=args.epochs, lr=args.lr, seed=seed, finetune_epochs=args.finetune_epochs,
                                   after_error=rule)  # type: ignore[arg-type]
            train_prm(blind, base=args.policy, out=out, label="mc", soft=False, head=args.head, template=template,
                      freeze_backbone=args.freeze_backbone, options=options, device="cpu", progress=False,
                      source=f"after_error benchmark ({rule})")
            train_s = time.perf_counter() - t0
            graded = list(PRMGrader(out, device="cpu").grade([type(t).from_dict(t.to_dict()) for t in test]))
            rep = evaluate(graded, "prm", "truth")
            arm = result["arms"].setdefault(rule, {
                "step_targets": sum(x is not None for ts in targets for x in ts),
                "incorrect_targets": sum(x == 0.0 for ts in targets for x in ts),
                "f1_vs_truth": [], "train_seconds": [],
            })
            arm["f1_vs_truth"].append(rep["processbench"]["average_f1"])
            arm["train_seconds"].append(round(train_s, 1))
            print(f"[after_error] seed {seed} {rule}: F1 {arm['f1_vs_truth'][-1]:.3f}", file=sys.stderr, flush=True)
    for arm in result["arms"].values():
        arm["f1_mean"] = sum(arm["f1_vs_truth"]) / len(arm["f1_vs_truth"])
    mc = evaluate(test, "mc", "truth")["processbench"]["average_f1"]
    result["mc_f1_vs_truth"] = mc
    a, b = result["arms"]["incorrect"]["f1_mean"], result["arms"]["skip"]["f1_mean"]
    result["f1_ratio_incorrect_over_skip"] = a / b if b else None
    text = json.dumps(result, indent=2)
    if args.save:
        name = f"after_error_train{len(train)}_test{len(test)}_seeds{'-'.join(map(str, seeds))}.json"
        (ROOT / "benchmarks/results" / name).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
