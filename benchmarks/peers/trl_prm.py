"""stepsieve's linear-head StepRM side by side with TRL 1.13's ``PRMTrainer``, same labels and budget.

    python benchmarks/peers/trl_prm.py [--train 240 --test 200 --ops 4-6 --mc-n 8 --epochs 3 --lr 3e-4 \
        --batch-size 16 --seeds 0 --cache runs/peers --save benchmarks/results/trl_prm.json]

On the embedded ``arith`` world with the embedded policy as the base of both models:

1. ``stepsieve sample --world arith`` draws ``--train + --test`` trajectories (one per task); the
   first ``--train`` are the train split, the rest the held-out test split;
2. the train split, its ``truth`` labels removed, is graded with ``mc`` (first-error binary search,
   ``--mc-n`` rollouts per probe) by ``stepsieve grade``;
3. ``stepsieve export --format trl-stepwise --label mc`` writes TRL's rows from it; TRL 1.13's
   ``trl.experimental.prm.PRMTrainer`` trains on them in its own venv (``CACHE/.venv-trl113``, made
   with ``python3 -m venv`` + pip on first use: the project's TRL 1.16 removed the trainer) and
   scores the test split's rows (``_trl113_prm.py``);
4. ``train_prm(head="linear")`` (what ``stepsieve train-prm --head linear`` runs) trains on the same
   ``mc`` labels with the same epochs, learning rate and batch size, and scores the same test split;
5. both are measured against ``truth`` with :func:`stepsieve.evaluate.evaluate` (ProcessBench
   first-error F1): TRL at its own decision rule (argmax, P >= 0.5), stepsieve at 0.5 and at the
   threshold its training picked on its dev part against ``mc``.

Sampled and graded data are cached in ``--cache`` (reused when the sizes and seed match). Prints
JSON; ``--save`` writes it too. Several ``--seeds`` (training seeds of both arms, same data) show
how much of a gap is seed noise.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
POLICY = ROOT / "src" / "stepsieve" / "embedded" / "policy"
WORKER = Path(__file__).resolve().parent / "_trl113_prm.py"
TRL_PINS = ["torch==2.13.0", "trl==1.13.*", "transformers==5.24.0", "accelerate==1.16.0", "datasets==5.2.0"]


def _log(msg: str) -> None:
    print(f"[trl_prm] {msg}", file=sys.stderr, flush=True)


def _cli(*argv: str) -> None:
    """Run one ``stepsieve`` verb in a child process (the CLI a user would type)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-c", "from stepsieve.cli import main; main()", *argv, "--quiet"]
    if argv[0] == "sample":
        cmd.remove("--quiet")  # sample has no --quiet
    _log(" ".join(["stepsieve", *argv]))
    subprocess.run(cmd, check=True, env=env)


def trl_venv(cache: Path) -> Path:
    """The Python of a venv holding TRL 1.13 (made on first use; torch is the pinned CPU build)."""
    venv = cache / ".venv-trl113"
    py = venv / "bin" / "python"
    stamp = venv / "stepsieve-pins.txt"
    if py.is_file() and stamp.is_file() and stamp.read_text().split() == TRL_PINS:
        return py
    _log(f"making {venv} ({' '.join(TRL_PINS)})")
    subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *TRL_PINS], check=True)
    stamp.write_text("\n".join(TRL_PINS) + "\n")
    return py


def make_data(args: argparse.Namespace, cache: Path) -> tuple[Path, Path]:
    """(train graded with mc, truth stripped; test with truth) in the cache, made when absent."""
    from stepsieve.formats import read_trajectories, write_trajectories

    key = f"n{args.train}+{args.test}_ops{args.ops}_seed{args.data_seed}_mc{args.mc_n}"
    d = cache / "trl_prm" / key
    d.mkdir(parents=True, exist_ok=True)
    sampled, train_raw, train_mc, test = d / "sampled.jsonl", d / "train.jsonl", d / "train.mc.jsonl", d / "test.jsonl"
    if not sampled.is_file():
        _cli("sample", "--world", "arith", "--n", str(args.train + args.test), "--ops", args.ops,
             "--seed", str(args.data_seed), "--out", str(sampled))
    if not (train_raw.is_file() and test.is_file()):
        ts = list(read_trajectories(sampled))
        if len(ts) != args.train + args.test:
            raise SystemExit(f"{sampled}: {len(ts)} trajectories, expected {args.train + args.test}")
        train = ts[: args.train]
        for t in train:  # mc grades without the truth; nothing of it reaches training
            for s in t.steps:
                s.labels.pop("truth", None)
        write_trajectories(train, train_raw)
        write_trajectories(ts[args.train :], test)
    if not train_mc.is_file():
        _cli("grade", str(train_raw), str(train_mc), "--grader", "mc", "-o", "mode=first-error",
             "-o", f"n={args.mc_n}", "-o", f"seed={args.data_seed}")
    return train_mc, test


def _test_rows(test_path: Path, out: Path) -> None:
    """The test split as trl-stepwise rows, every step kept (the export stops a row at the first
    step whose label is undecided; scoring needs them all). Text is rendered as the export does."""
    from stepsieve.curate import render_step, render_task
    from stepsieve.formats import read_trajectories

    with open(out, "w") as f:
        for t in read_trajectories(test_path):
            steps = [render_step(s) for s in t.steps]
            f.write(json.dumps({"prompt": render_task(t.task), "completions": steps, "labels": [True] * len(steps)})
                    + "\n")


def start_trl(py: Path, rows: Path, test_rows: Path, out: Path, args: argparse.Namespace,
              seed: int) -> tuple[subprocess.Popen, Path]:
    """Start the TRL arm in its venv (it runs while the stepsieve arms train)."""
    scores = out / "scores.json"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [str(py), str(WORKER), "--train", str(rows), "--test", str(test_rows), "--base", str(POLICY),
           "--out", str(out), "--scores", str(scores), "--epochs", str(args.epochs), "--lr", str(args.lr),
           "--batch-size", str(args.batch_size), "--seed", str(seed)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of stepsieve's venv leaks in
    _log(f"TRL 1.13 PRMTrainer, seed {seed}")
    proc = subprocess.Popen(cmd, env={**env, "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1"})
    return proc, scores


# The stepsieve arms. "linear": what `stepsieve train-prm --head linear` trains by default.
# "linear, TRL's data": the same trainer fed what TRL's trainer sees — steps after the first error
# left out (the trl-stepwise row stops there), every example trained on (no dev part), P >= 0.5.
ARMS = {
    "linear": {},
    "linear_trl_data": {"after_error": "skip", "dev_fraction": 0.0},
}


def run_stepsieve(arm: str, train_mc: str, test_path: str, out: str, epochs: int, lr: float, batch_size: int,
                  seed: int) -> dict:
    """Train one stepsieve arm and score the test split (a worker process: arms train side by side)."""
    import torch

    from stepsieve.formats import read_trajectories
    from stepsieve.prm import StepRMScorer, TrainOptions, train_prm

    torch.set_num_threads(1)
    opts = TrainOptions(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, **ARMS[arm])
    t0 = time.perf_counter()
    model = train_prm(read_trajectories(train_mc), base=POLICY, out=out, label="mc", head="linear",
                      options=opts, device="cpu", source=train_mc)
    scores = StepRMScorer(model, batch_size=64).score_steps(list(read_trajectories(test_path)))
    tr = model.config.training
    return {"scores": scores, "threshold": model.config.threshold,
            "train": {"examples": tr["examples"], "dev_examples": tr["dev_examples"],
                      "labelled_steps": tr["labelled_steps"], "first_loss": tr["first_loss"],
                      "final_loss": tr["final_loss"], "seconds": round(time.perf_counter() - t0, 1)}}


def _attach(test: list, name: str, scores: list[list[float]], threshold: float) -> None:
    from stepsieve.trajectory import Label

    for t, row in zip(test, scores, strict=True):
        if len(row) != len(t.steps):
            raise SystemExit(f"{name}: {len(row)} scores for the {len(t.steps)} steps of {t.id}")
        for s, p in zip(t.steps, row):
            s.labels[name] = Label(score=p, verdict="correct" if p >= threshold else "incorrect")


def _f1(test: list, name: str) -> dict:
    from stepsieve.evaluate import evaluate

    pb = evaluate(test, name, "truth")["processbench"]
    split = next(iter(pb["splits"].values()))  # one split: the test trajectories
    return {"average_f1": pb["average_f1"], **{k: split[k] for k in ("acc_error", "acc_correct") if k in split}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=240, help="train trajectories (issue 18 used 720)")
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--ops", default="4-6")
    ap.add_argument("--mc-n", type=int, default=8)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seeds", default="0", help="training seeds of both arms, comma-separated")
    ap.add_argument("--cache", type=Path, default=ROOT / "runs" / "peers",
                    help="data (trl_prm/<sizes>/), trained models and the TRL venv (.venv-trl113)")
    ap.add_argument("--save", type=Path, default=None, help="also write the JSON here")
    ap.add_argument("--data", type=Path, default=None,
                    help="a directory holding train.mc.jsonl (mc-graded, no truth) and test.jsonl made earlier: "
                         "skips sampling and grading")
    ap.add_argument("--skip-trl", action="store_true", help="stepsieve arm only (no TRL venv)")
    args = ap.parse_args()

    from stepsieve.formats import read_trajectories

    cache = args.cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.data:
        train_mc, test_path = args.data.resolve() / "train.mc.jsonl", args.data.resolve() / "test.jsonl"
    else:
        train_mc, test_path = make_data(args, cache)
    rows, test_rows = train_mc.with_suffix(".trl.jsonl"), test_path.with_suffix(".trl.jsonl")
    _cli("export", str(train_mc), "-o", str(rows), "--format", "trl-stepwise", "--label", "mc")
    _test_rows(test_path, test_rows)
    py = None if args.skip_trl else trl_venv(cache)
    test = list(read_trajectories(test_path))
    seeds = [int(s) for s in args.seeds.split(",")]
    runs: list[dict] = []
    for seed in seeds:
        run: dict = {"seed": seed}
        trl = start_trl(py, rows, test_rows, cache / "trl_prm" / f"trl-seed{seed}", args, seed) if py else None
        with ProcessPoolExecutor(max_workers=len(ARMS), mp_context=multiprocessing.get_context("spawn")) as pool:
            futs = {arm: pool.submit(run_stepsieve, arm, str(train_mc), str(test_path),
                                     str(cache / "trl_prm" / f"steprm-{arm}-seed{seed}"), args.epochs, args.lr,
                                     args.batch_size, seed) for arm in ARMS}
            done = {arm: f.result() for arm, f in futs.items()}
        if trl is not None:
            proc, scores_path = trl
            if proc.wait() != 0:
                raise SystemExit(f"the TRL arm failed (exit {proc.returncode})")
            res = json.loads(scores_path.read_text())
            _attach(test, "trl", res["scores"], 0.5)
            run["trl_prm_trainer"] = {**_f1(test, "trl"), "train": res["train"]}
        for arm, res in done.items():
            _attach(test, arm, res["scores"], 0.5)
            at_half = _f1(test, arm)
            _attach(test, arm, res["scores"], res["threshold"])
            run[f"stepsieve_{arm}"] = {**at_half, "at_dev_threshold": {"threshold": res["threshold"],
                                                                        **_f1(test, arm)}, "train": res["train"]}
        runs.append(run)
        _log(json.dumps({k: v.get("average_f1") if isinstance(v, dict) else v for k, v in run.items()}))

    def mean(arm: str) -> float | None:
        xs = [r[arm]["average_f1"] for r in runs if arm in r]
        return round(statistics.fmean(xs), 4) if xs else None

    summary = {arm: mean(arm) for arm in ("trl_prm_trainer", *(f"stepsieve_{a}" for a in ARMS))}
    if summary["trl_prm_trainer"]:
        summary["ratio_stepsieve_over_trl"] = round(summary["stepsieve_linear"] / summary["trl_prm_trainer"], 3)
    out = {
        "benchmark": "peers/trl_prm",
        "world": "arith (embedded)", "base": "embedded policy",
        "data": str(args.data) if args.data else None,
        "sizes": {"train": len(rows.read_text().splitlines()), "test": len(test), "ops": args.ops, "mc_n": args.mc_n,
                  "train_rows_trl": len(rows.read_text().splitlines()), "data_seed": args.data_seed},
        "budget": {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size},
        "metric": "ProcessBench first-error F1 against truth on the test split (stepsieve.evaluate)",
        "mean_f1": summary, "runs": runs, "seconds": round(time.perf_counter() - t0, 1),
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(text + "\n")


if __name__ == "__main__":
    main()
