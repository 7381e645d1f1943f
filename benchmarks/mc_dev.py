"""Choose the mc first-error options on a DEV set; prints JSON.

The test set of ``benchmarks/grading.py`` is 300 policy samples drawn with seed 0; this
script draws its dev set with another seed (default 1000), so nothing about the test
trajectories steers the choice. Every configuration runs the real ``MCGrader`` (first-error
mode, N rollouts per probe) over the same dev trajectories; rollouts go through a seeded
request cache, so a rollout two configurations share (same prefix, temperature, seed,
sample index) is drawn once. ``calls``/``tokens`` below are what each configuration would
pay on its own (the labels' own cost: requested rollouts and their generated tokens), not
what this run paid.

Reported per configuration: ProcessBench first-error F1 against the truth, acc_error on
all erroneous and on the wrong-answer ones (the part mc can reach: an erroneous
trajectory whose own answer is right is labelled correct throughout by any outcome-based
mc), how the misses fall (too early / too late / none), calls and generated tokens per
trajectory, and the every-step rollouts the same N would cost on these trajectories (N per
non-terminal prefix: independent of temperature; ``extend`` only adds to it).

``--bound`` adds a diagnosis that uses the truth (it labels nothing): on the wrong-answer
erroneous trajectories whose first error is not step 0, how often the LAST correct prefix
(the one right before the true first error) gets at least one screened success in its
first 16 / 32 / 64 rollouts. The binary search (with or without confirm) can place the
error exactly only when that prefix comes out recoverable — the search moves right past a
step only on a success there — so this share bounds acc on those trajectories for any
search that probes a prefix with that many rollouts at that temperature (unless a wrong
prefix comes out recoverable, rare with screening: ``first_wrong_prefix_dead_in_16``).

Usage: python benchmarks/mc_dev.py [--trajectories 200] [--seed 1000] [--n 16]
           [--config "temperature=1.0"] [--config "temperature=0.5,extend=16"] ...
           [--bound 1.0,1.5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.progress import Progress

from stepsieve.backends import RequestCache
from stepsieve.backends.transformers import TransformersBackend
from stepsieve.embedded import model_dir
from stepsieve.evaluate import evaluate, predicted_first_error
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.graders._rollout import Rollouts, claims_hold
from stepsieve.graders.mc import MCGrader
from stepsieve.worlds.arith import ArithWorld

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading import sample  # the benchmark's own sampler: same procedure, other seed

# Options every configuration shares unless it sets them (the last session's screened search).
BASE = {"temperature": 1.0, "threshold": 0.0, "extend": 0, "confirm": True, "rollout_check": "rules", "recheck": 0}
DEFAULT_CONFIGS = [
    "temperature=1.0",
    "temperature=0.7",
    "temperature=0.5",
    "temperature=0.3",
    "temperature=1.0,extend=16",
    "temperature=0.5,extend=16",
]


def parse_config(text: str) -> dict:
    """``key=value,...`` over BASE's keys (values: float, int, true/false, none)."""
    out = dict(BASE)
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, val = part.partition("=")
        if key not in BASE:
            raise SystemExit(f"--config {text!r}: unknown option {key!r} (known: {', '.join(BASE)})")
        low = val.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
        elif low in ("none", ""):
            out[key] = None
        elif key == "rollout_check":
            out[key] = val
        elif key in ("extend", "recheck"):
            out[key] = int(val)
        else:
            out[key] = float(val)
    return out


def misses(ts, label: str) -> dict:
    """How the erroneous wrong-answer trajectories' predictions fall against the truth."""
    early = late = none = exact = 0
    for t in ts:
        true = t.first_error("truth")
        if true in (-1, None) or t.outcome.correct:
            continue
        got = predicted_first_error(t, label)
        if got == true:
            exact += 1
        elif got is None or got == -1:
            none += 1
        elif got < true:
            early += 1
        else:
            late += 1
    total = exact + early + late + none
    return {"wrong_answer": total, "exact": exact, "too_early": early, "too_late": late, "no_error_found": none,
            "acc_wrong_answer": exact / total if total else None}


def last_correct_bound(policy, world, ts, temperatures: list[float], max_tokens: int) -> dict:
    """Share of wrong-answer trajectories (first error > 0) whose last correct prefix gets
    >= 1 screened success in 16 / 32 / 64 rollouts, per temperature (see the module doc)."""
    todo = [t for t in ts if not t.outcome.correct and (t.first_error("truth") or 0) > 0]
    probes = [(world.task_from_trajectory(t), [s.text for s in t.steps[: t.first_error("truth")]]) for t in todo]
    wrong = [(world.task_from_trajectory(t), [s.text for s in t.steps[: t.first_error("truth") + 1]]) for t in todo]
    out: dict = {"trajectories": len(todo)}
    for temp in temperatures:
        roll = Rollouts(policy, world, 64, temperature=temp, max_tokens=max_tokens, seed=0, max_turns=1,
                        check=claims_hold)
        rows = [[r["correct"] for r in res.rollouts] for res in roll.run(probes)]
        first16 = Rollouts(policy, world, 16, temperature=temp, max_tokens=max_tokens, seed=0, max_turns=1,
                           check=claims_hold)
        dead_wrong = [res.n_correct == 0 for res in first16.run(wrong)]
        out[str(temp)] = {
            **{f"recoverable_in_{k}": sum(any(r[:k]) for r in rows) / len(rows) for k in (16, 32, 64)},
            "mean_clean_success_rate": sum(sum(r) for r in rows) / (64 * len(rows)),
            "first_wrong_prefix_dead_in_16": sum(dead_wrong) / len(dead_wrong),
        }
        print(json.dumps({"bound": {str(temp): out[str(temp)]}}), file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1000, help="dev sampling seed (the test set uses 0)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--min-steps", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--batch-rows", type=int, default=256)
    ap.add_argument("--config", action="append", default=None,
                    help="mc options, e.g. 'temperature=0.5,extend=16'; 'none': no search runs")
    ap.add_argument("--sampled", default=None, help="dev trajectories: read if the file exists, else written")
    ap.add_argument("--bound", default=None, help="temperatures for the last-correct-prefix diagnosis, e.g. 1.0,1.5")
    ap.add_argument("--cache", default=".stepsieve-cache/mc_dev.sqlite", help="seeded rollout cache (sqlite)")
    a = ap.parse_args()
    chosen = DEFAULT_CONFIGS if a.config is None else [c for c in a.config if c != "none"]
    configs = [(c, parse_config(c)) for c in chosen]

    world = ArithWorld()
    policy = TransformersBackend(model_dir("policy"), max_batch_rows=a.batch_rows, cache=RequestCache(a.cache))
    if a.sampled and Path(a.sampled).is_file():
        ts = list(read_trajectories(a.sampled))
    else:
        ts = sample(policy, world, a.trajectories, a.min_steps, a.seed, a.max_tokens)
        if a.sampled:
            write_trajectories(ts, a.sampled)
    # The answer line is free (its value is the outcome); every other prefix costs N in every-step.
    every_step_calls = a.n * sum(len(t.steps) - 1 for t in ts)
    n_err = sum(1 for t in ts if t.first_error("truth") not in (-1, None))
    result: dict = {
        "seed": a.seed, "n": a.n, "trajectories": len(ts), "with_error": n_err,
        "with_error_and_right_answer": sum(
            1 for t in ts if t.first_error("truth") not in (-1, None) and t.outcome.correct),
        "every_step_calls_per_trajectory": every_step_calls / len(ts),
        "configs": {},
    }
    with Progress(transient=True) as progress:
        for text, opts in configs:
            grader = MCGrader(policy, world, mode="first-error", n=a.n, max_tokens=a.max_tokens, seed=0,
                              name="mc", **opts)
            bar = progress.add_task(text, total=len(ts))
            t0 = time.perf_counter()
            graded = []
            for i in range(0, len(ts), a.batch):
                graded += list(grader.grade(ts[i : i + a.batch]))  # relabels "mc" in place
                progress.advance(bar, min(a.batch, len(ts) - i))
            rep = evaluate(graded, "mc", "truth")
            per = rep["cost"]["per_trajectory"]
            pb = rep["processbench"]["splits"]["arith"]
            result["configs"][text] = {
                "options": opts,
                "first_error_f1": rep["processbench"]["average_f1"],
                "acc_error": pb["acc_error"],
                "acc_correct": pb["acc_correct"],
                **misses(graded, "mc"),
                "calls_per_trajectory": per["calls"],
                "generated_tokens_per_trajectory": per["tokens_out"],
                "rollout_ratio_vs_every_step": per["calls"] * len(ts) / every_step_calls,
                "seconds_this_run": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps({text: result["configs"][text]}), file=sys.stderr, flush=True)
    if a.bound:
        result["last_correct_prefix_bound"] = last_correct_bound(
            policy, world, ts, [float(x) for x in a.bound.split(",")], a.max_tokens)
    result["cache_hits"] = policy.cache_hits
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
