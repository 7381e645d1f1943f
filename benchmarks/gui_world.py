"""The gui world's embedded policy against the exact truth, and mc first-error on its rollouts.

    python benchmarks/gui_world.py --n 300 --steps 5-8 --mc 100 --mc-n 8

One run, prints JSON (and saves it under benchmarks/results/ with --save NAME):

- ``policy``: N tasks (plan length ``--steps``, seeds from ``--seed``) sampled once at
  temperature 1 with the gui policy (default: the embedded one): success rate, per-action
  error rate (every action has a truth label), error rate of the actions in failed and in
  successful runs, the first-error histogram and the kinds of wrong actions;
- ``mc_first_error`` (``--mc K``): the ``mc`` grader in first-error mode (``--mc-n`` rollouts
  per probe, the same policy) on the first K of those trajectories: ProcessBench F1 of its
  first error against the truth's, rollouts per trajectory, seconds, and the truth's kind of
  each first error it misses (mc finds dead ends; a recoverable wrong action is not one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.backends.gui_policy import GuiPolicyBackend  # noqa: E402
from stepsieve.evaluate import processbench  # noqa: E402
from stepsieve.graders.mc import MCGrader  # noqa: E402
from stepsieve.sampling import sample  # noqa: E402
from stepsieve.worlds.gui import GuiWorld  # noqa: E402


def policy_figures(ts: list) -> dict:
    ok_runs = [t for t in ts if t.outcome.correct]
    failed = [t for t in ts if not t.outcome.correct]

    def wrong(runs: list) -> tuple[int, int]:
        steps = [s for t in runs for s in t.steps]
        return sum(s.labels["truth"].verdict == "incorrect" for s in steps), len(steps)

    w_all, n_all = wrong(ts)
    w_fail, n_fail = wrong(failed)
    w_ok, n_ok = wrong(ok_runs)
    hist: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for t in ts:
        fe = t.first_error("truth")
        hist["none" if fe == -1 else str(fe)] += 1
        for s in t.steps:
            lab = s.labels["truth"]
            if lab.verdict == "incorrect":
                kinds[(lab.extra or {}).get("kind", "?")] += 1
    order = sorted((k for k in hist if k != "none"), key=int) + (["none"] if "none" in hist else [])
    return {
        "n": len(ts),
        "success_rate": round(len(ok_runs) / len(ts), 3),
        "actions": n_all,
        "actions_per_run": round(n_all / len(ts), 2),
        "action_error_rate": round(w_all / max(1, n_all), 3),
        "action_error_rate_failed_runs": round(w_fail / max(1, n_fail), 3),
        "action_error_rate_successful_runs": round(w_ok / max(1, n_ok), 3),
        "runs_with_a_wrong_action": sum(t.first_error("truth") not in (-1, None) for t in ts),
        "first_error_hist": {k: hist[k] for k in order},
        "error_kinds": dict(kinds.most_common()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--steps", default="5-8", help="plan length of the tasks, MIN-MAX")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=None, help="gui policy directory (default: the embedded one)")
    ap.add_argument("--mc", type=int, default=0, help="grade the first K trajectories with mc first-error")
    ap.add_argument("--mc-n", type=int, default=8, help="rollouts per probed prefix")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", default=None, help="also write benchmarks/results/NAME.json")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    lo, _, hi = a.steps.partition("-")
    world = GuiWorld()
    policy = GuiPolicyBackend(a.model)
    t0 = time.perf_counter()
    ts = list(sample(world, policy, a.n, a.seed, knobs={"steps": (int(lo), int(hi or lo))}, temperature=1.0))
    report: dict = {"command": " ".join(sys.argv), "model": policy.model, "steps": a.steps, "seed": a.seed,
                    "policy": {**policy_figures(ts), "seconds": round(time.perf_counter() - t0, 1)}}
    if a.mc:
        sub = ts[: a.mc]
        grader = MCGrader(policy, world, mode="first-error", n=a.mc_n, max_turns=world.max_turns, name="mc")
        t1 = time.perf_counter()
        graded = list(grader.grade(sub))
        secs = time.perf_counter() - t1
        truth = [t.first_error("truth") for t in sub]
        pred = [t.first_error("mc") for t in graded]
        missed: Counter[str] = Counter()  # truth kind of the first errors mc does not find
        for t, x, p in zip(sub, truth, pred):
            if x not in (-1, None) and p != x:
                lab = t.steps[x].labels["truth"]
                where = "none" if p == -1 else "later" if (p or 0) > x else "earlier"
                missed[f"{(lab.extra or {}).get('kind')}->{where}"] += 1
        report["mc_first_error"] = {
            "trajectories": len(sub), "n": a.mc_n, "with_error": sum(x not in (-1, None) for x in truth),
            "processbench": processbench([x if x is not None else -1 for x in truth], pred),
            "exact_first_error": round(sum(p == x for p, x in zip(pred, truth)) / len(sub), 3),
            "rollouts_per_trajectory": round(grader.probes * a.mc_n / len(sub), 1), "probes": grader.probes,
            "seconds": round(secs, 1), "missed_first_errors": dict(missed.most_common()),
        }
    text = json.dumps(report, indent=1)
    print(text)
    if a.save:
        (ROOT / "benchmarks" / "results" / f"{a.save}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
