"""The implicit PRM (outcome labels only) vs the shipped mc-distilled StepRM, against truth.

    python benchmarks/implicit_prm.py --data runs/implicit-data --out runs/implicit-prm \
        [--train-tasks 600 --per-task 4 --ops 4-6] [--objective ce --beta 0.05 --lr 3e-4 --epochs 2] \
        [--search-tasks 100 --search-pool runs/implicit-pool-8/pool.jsonl]

1. Data (cached in ``--data``): ``train.jsonl``, policy samples of ``--train-tasks`` arith tasks
   (task seed 0) x ``--per-task``; ``test.jsonl``, one sample for each of 200 tasks of task seed
   7919 (the StepRM distillation benchmark's test split, same sampler settings). Made when absent.
2. Training (``--out``, skipped when it holds a checkpoint): every step label is dropped first;
   the implicit PRM learns ``outcome.correct`` only (the answer checker's verdict).
3. Both graders grade the test split back to back: first-error F1 against ``truth``
   (ProcessBench), forward tokens and seconds per trajectory.
4. ``--search-tasks N``: 16 samples for each of N 8-operation tasks (task seed 2000, as
   ``benchmarks/search.py --seed 0``), majority vote vs PRM-weighted vote and best-of-N (min)
   with each reward model.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from stepsieve.evaluate import evaluate
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.prm import (
    ImplicitGrader,
    ImplicitPRM,
    ImplicitScorer,
    ImplicitTrainOptions,
    PRMGrader,
    StepRM,
    StepRMScorer,
    default_model_dir,
    train_implicit_prm,
)
from stepsieve.prm._implicit import IMPLICIT_CONFIG_NAME

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "src/stepsieve/embedded/policy"


def _log(msg: str) -> None:
    print(f"[implicit] {msg}", file=sys.stderr, flush=True)


def _data(args: argparse.Namespace) -> tuple[Path, Path]:
    from stepsieve.backends.transformers import TransformersBackend
    from stepsieve.sampling import sample
    from stepsieve.worlds import get_world

    args.data.mkdir(parents=True, exist_ok=True)
    train, test = args.data / "train.jsonl", args.data / "test.jsonl"
    lo, _, hi = args.ops.partition("-")
    knobs = {"ops": (int(lo), int(hi or lo))}
    world, backend = get_world("arith"), None
    for path, tasks, per in (
        (test, world.sample_tasks(200, 7919, **knobs), 1),
        (train, world.sample_tasks(args.train_tasks, 0, **knobs), args.per_task),
    ):
        if path.is_file():
            continue
        backend = backend or TransformersBackend(POLICY)
        t0 = time.perf_counter()
        trajs = list(sample(world, backend, len(tasks), 0, tasks=tasks, samples_per_task=per, max_tokens=160))
        write_trajectories(trajs, path)
        _log(f"sampled {path.name}: {len(trajs)} in {time.perf_counter() - t0:.0f} s")
    return train, test


def _outcome_only(path: Path) -> list:
    """The samples with every step label dropped: only ``outcome.correct`` is left to learn from."""
    out = []
    for t in read_trajectories(path):
        for s in t.steps:
            s.labels = {}
        out.append(t)
    return out


def _grade(grader, trajs: list, name: str) -> dict:
    t0 = time.perf_counter()
    graded = list(grader.grade([type(t).from_dict(t.to_dict()) for t in trajs]))
    seconds = time.perf_counter() - t0
    rep = evaluate(graded, name, "truth")
    pb = rep["processbench"]
    stats = grader._scorer.stats
    return {
        "first_error_f1": pb["average_f1"],
        "processbench": pb["splits"]["all"],
        "threshold": grader.threshold,
        "per_trajectory": {
            "forward_passes": stats.passes / len(trajs),
            "forward_tokens": stats.tokens / len(trajs),
            "seconds": seconds / len(trajs),
        },
    }


def _search(args: argparse.Namespace, implicit: ImplicitScorer, steprm: StepRMScorer) -> dict:
    from stepsieve.backends.transformers import TransformersBackend
    from stepsieve.search import Candidate, run_search, sample_candidates
    from stepsieve.worlds import get_world

    world = get_world("arith")
    tasks = world.sample_tasks(args.search_tasks, 2000, ops=(8, 8))
    backend = TransformersBackend(POLICY)
    pool_path = args.search_pool
    if pool_path is not None and pool_path.is_file():
        pools = [
            [Candidate(**c) for c in json.loads(line)["pool"]] for line in pool_path.read_text().splitlines()
        ]
        if len(pools) != len(tasks):
            raise SystemExit(f"{pool_path} holds {len(pools)} tasks, not {len(tasks)}")
    else:
        t0 = time.perf_counter()
        pools = sample_candidates(tasks, world, backend, None, n=16, max_tokens=256, temperature=1.0, seed=0)
        _log(f"sampled the search pool in {time.perf_counter() - t0:.0f} s")
        if pool_path is not None:
            pool_path.parent.mkdir(parents=True, exist_ok=True)
            pool_path.write_text(
                "".join(
                    json.dumps({"task": t.id, "pool": [asdict(c) for c in p]}) + "\n"
                    for t, p in zip(tasks, pools, strict=True)
                )
            )
    out = {}
    for name, scorer in (("implicit", implicit), ("steprm", steprm)):
        res = run_search(
            tasks,
            world,
            backend,
            scorer,
            ns=[1, 2, 4, 8, 16],
            beams=[],
            greedy_expand=None,
            seed=0,
            pools=pools,
        )
        out[name] = {
            k: res["curves"][k]
            for k in ("majority", "weighted_majority:min", "best_of_n:min", "oracle")
            if k in res["curves"]
        }
        out["policy_accuracy"] = res["policy_accuracy"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT / "runs/implicit-data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/implicit-prm")
    ap.add_argument("--train-tasks", type=int, default=600)
    ap.add_argument("--per-task", type=int, default=4)
    ap.add_argument("--ops", default="4-6")
    ap.add_argument("--objective", default="ce", choices=["ce", "dpo"])
    ap.add_argument("--beta", type=float, default=0.05)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--score", default="cumulative", choices=["cumulative", "step"])
    ap.add_argument("--steprm", type=Path, default=default_model_dir())
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--search-tasks", type=int, default=0, help="8-operation tasks for the N=16 vote (0: skip)"
    )
    ap.add_argument("--search-pool", type=Path, default=None, help="JSONL cache of the search pool")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    train_path, test_path = _data(args)
    result: dict = {
        "benchmark": "implicit_prm",
        "world": "arith",
        "ops": args.ops,
        "threads": torch.get_num_threads(),
    }
    if not (args.out / IMPLICIT_CONFIG_NAME).is_file():
        train = _outcome_only(train_path)
        opts = ImplicitTrainOptions(
            objective=args.objective,
            beta=args.beta,
            lr=args.lr,
            epochs=args.epochs,
            batch_size=args.batch_size,
            score=args.score,
        )
        _log(
            f"training on {len(train)} outcome-labelled samples "
            f"({sum(bool(t.outcome.correct) for t in train)} right)"
        )
        train_implicit_prm(
            train,
            base=POLICY,
            out=args.out,
            options=opts,
            device="cpu",
            progress=True,
            source=str(train_path),
        )
    cfg = json.loads((args.out / IMPLICIT_CONFIG_NAME).read_text())
    result["implicit_training"] = {k: v for k, v in cfg["training"].items() if k != "loss_curve"}
    result["implicit_config"] = {k: cfg[k] for k in ("beta", "objective", "score", "threshold", "reference")}
    test = list(read_trajectories(test_path))
    result["test"] = {"trajectories": len(test), "with_error": sum(t.first_error("truth") >= 0 for t in test)}
    implicit = ImplicitGrader(args.out, device="cpu", batch_size=64)
    steprm = PRMGrader(args.steprm, device="cpu", batch_size=64)
    result["implicit"] = _grade(implicit, test, "implicit")
    result["steprm"] = _grade(steprm, test, "prm")
    result["implicit"]["params"] = sum(p.numel() for p in implicit._model.policy.parameters())
    result["steprm"]["params"] = sum(p.numel() for p in steprm._model.parameters())
    if args.search_tasks:
        result["search_ops8"] = _search(
            args,
            ImplicitScorer(ImplicitPRM.load(args.out, device="cpu"), batch_size=64),
            StepRMScorer(StepRM.load(args.steprm, device="cpu"), batch_size=64),
        )
    text = json.dumps(result, indent=2)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
