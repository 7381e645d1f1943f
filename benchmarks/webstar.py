"""Step filtering's effect on the gui world (the WebSTAR claim): fine-tune copies of the gui
policy on its own rollouts, kept (a) all, (b) step-filtered, (c) successful runs only.

    python benchmarks/webstar.py --train-tasks 300 --eval-n 300 --steps 150 --seeds 0,1 --save webstar_300

One run, prints JSON (and with --save NAME writes benchmarks/results/NAME.json and NAME.png):

1. rollouts: the shipped policy (``gui-policy``) samples ``--train-tasks`` tasks of 5-8
   planner steps once each at temperature 1 (task seed ``--train-seed``), through
   ``stepsieve.sampling.sample``, the library call behind ``stepsieve sample --world gui``
   (without screenshots: the policy reads the accessibility tree);
2. grading: the ``truth`` labels are stripped and the rollouts graded by ``mc --mode
   first-error`` (``--mc-n`` rollouts per probe, the shipped policy), through the grading
   engine behind ``stepsieve grade``; its first-error F1 against the truth is reported;
3. training sets, each a list of (prompt, action) turns:
   ``all``: every action of every rollout;
   ``filtered``: ``stepsieve curate --label mc --mode steps --after-error drop`` (the curate
   job itself: every step the grader calls correct, nothing from its first error on);
   ``success``: every action of the rollouts whose outcome is right;
   ``truth_filtered``: the same curate rule on the exact ``truth`` label, the ceiling of (b);
   for each, how many of its targets the truth calls wrong (the noise the arm trains on)
   and the share of ``done()`` targets (a failed run's kept prefix never ends in one);
4. training: each arm fine-tunes its own copy of the shipped policy (``train_policy``, the
   trainer of ``scripts/train_gui_policy.py``) with the SAME budget: ``--steps`` AdamW steps
   of ``--batch`` examples at ``--lr``; a smaller set is reshuffled and seen more times.
   Fine-tuned, not from scratch: WebSTAR fine-tunes a model that already acts, on that
   model's filtered rollouts, and a from-scratch policy needs ~1,100 steps (12 CPU-minutes)
   per arm; ``--seeds`` repeats the training with other batch orders;
5. evaluation: every arm and the untouched shipped policy sample the same ``--eval-n`` fresh
   tasks (task seed ``--eval-seed``, checked disjoint from the training tasks) at temperature
   1 with the same sampling seed: success rate with a Wilson 95% interval, per-action error
   rate and kinds (the truth labels), runs that never say ``done()``, and the paired
   bootstrap 95% interval of each arm's success minus the shipped policy's over the same
   tasks.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.backends.gui_policy import (  # noqa: E402
    GuiPolicyBackend,
    GuiPolicyNet,
    candidates,
    embedded_gui_policy_dir,
    train_policy,
)
from stepsieve.curate import CurateOptions, Grading, curate_file  # noqa: E402
from stepsieve.engine import run_grading  # noqa: E402
from stepsieve.evaluate import processbench  # noqa: E402
from stepsieve.formats import read_trajectories, write_trajectories  # noqa: E402
from stepsieve.graders import GradeContext, build_grader  # noqa: E402
from stepsieve.sampling import sample  # noqa: E402
from stepsieve.trajectory import Trajectory  # noqa: E402
from stepsieve.worlds.gui import GuiWorld  # noqa: E402

WORLD = GuiWorld()
ARMS = ("all", "filtered", "success", "truth_filtered")


def log(msg: str) -> None:
    print(f"[webstar] {msg}", file=sys.stderr, flush=True)


def bar() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


def strip_truth(t: Trajectory) -> Trajectory:
    steps = [msgspec.structs.replace(s, labels={k: v for k, v in s.labels.items() if k != "truth"}) for s in t.steps]
    return msgspec.structs.replace(t, steps=steps)


def turns(ts: list[Trajectory], weight_label: str | None = None) -> list[tuple[str, str, bool]]:
    """(prompt, action, truth-correct) of every training target: every step, or with
    ``weight_label`` (a curated file) the steps whose weight is positive, each in the
    context of the steps before it in its record."""
    out = []
    for t in ts:
        task = WORLD.task_from_trajectory(t)
        texts = [s.text for s in t.steps]
        truth = [ok for ok, _ in WORLD.step_truth(task, texts)]
        for k, s in enumerate(t.steps):
            if weight_label is not None and not (s.labels[weight_label].score or 0.0) > 0.0:
                continue
            out.append((WORLD.prompt(task, texts[:k]), s.text, truth[k]))
    return out


def examples(rows: list[tuple[str, str, bool]]) -> list[tuple[str, int]]:
    """(prompt, index of the action among the policy's candidates) the trainer reads."""
    out = []
    for prompt, action, _ in rows:
        acts = [c.action for c in candidates(prompt)[2]]
        if action not in acts:  # the policy only ever emits its candidates
            raise SystemExit(f"action {action!r} is not among the policy's candidates")
        out.append((prompt, acts.index(action)))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [round(c - h, 3), round(c + h, 3)]


def paired_diff(a: list[bool], b: list[bool], reps: int = 2000) -> dict[str, Any]:
    """mean(a) - mean(b) over the same tasks, with a paired bootstrap 95% interval."""
    rng = random.Random(0)
    n = len(a)
    d = [int(x) - int(y) for x, y in zip(a, b)]
    boots = sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    return {"diff": round(sum(d) / n, 3), "ci95": [round(boots[int(0.025 * reps)], 3),
                                                     round(boots[int(0.975 * reps) - 1], 3)]}


def evaluate(backend: GuiPolicyBackend, tasks: list, seed: int) -> tuple[dict[str, Any], list[bool]]:
    ts = list(sample(WORLD, backend, len(tasks), seed, tasks=tasks, temperature=1.0))
    ok = [bool(t.outcome.correct) for t in ts]
    steps = [s for t in ts for s in t.steps]
    wrong = sum(s.labels["truth"].verdict == "incorrect" for s in steps)
    kinds = Counter((s.labels["truth"].extra or {}).get("kind", "?") for s in steps
                    if s.labels["truth"].verdict == "incorrect")
    fig = {"success_rate": round(sum(ok) / len(ok), 3), "success_ci95": wilson(sum(ok), len(ok)),
           "action_error_rate": round(wrong / max(1, len(steps)), 3), "actions_per_run": round(len(steps) / len(ts), 2),
           "runs_without_done": sum(not t.steps or t.steps[-1].text != "done()" for t in ts),
           "error_kinds": dict(kinds.most_common())}
    return fig, ok


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["shipped", *ARMS]
    runs = report["eval"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for x, name in enumerate(names):
        for j, r in enumerate(runs[name]):
            lo, hi = r["success_ci95"]
            xx = x + (j - (len(runs[name]) - 1) / 2) * 0.12
            ax.errorbar(xx, r["success_rate"], yerr=[[r["success_rate"] - lo], [hi - r["success_rate"]]], fmt="o",
                        color="C0" if name != "shipped" else "0.3", capsize=3)
    ax.axhline(runs["shipped"][0]["success_rate"], color="0.6", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), ["shipped", "(a) all", "(b) mc step-filtered", "(c) successful", "truth-filtered"])
    ax.set_ylabel(f"success rate ({report['eval_n']} fresh tasks, T=1)")
    budget = f"{report['budget']['steps']}x{report['budget']['batch']}"
    ax.set_title(f"gui policy fine-tuned on {report['train_tasks']} of its rollouts, {budget} each; "
                 "one point per training seed, Wilson 95%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-tasks", type=int, default=300)
    ap.add_argument("--train-seed", type=int, default=7000, help="task and sampling seed of the training rollouts")
    ap.add_argument("--eval-n", type=int, default=300)
    ap.add_argument("--eval-seed", type=int, default=0, help="task and sampling seed of the evaluation")
    ap.add_argument("--task-steps", default="5-8", help="plan length of all tasks, MIN-MAX")
    ap.add_argument("--mc-n", type=int, default=8, help="mc rollouts per probed prefix")
    ap.add_argument("--steps", type=int, default=150, help="optimiser steps per arm (the equal budget)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="the shipped run's rate: training continues")
    ap.add_argument("--seeds", default="0", help="training seeds (batch orders), comma-separated")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the rollouts, grades and curated files here")
    ap.add_argument("--save", default=None, help="also write benchmarks/results/NAME.json and NAME.png")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lo, _, hi = a.task_steps.partition("-")
    knobs = {"steps": (int(lo), int(hi or lo))}
    seeds = [int(s) for s in a.seeds.split(",")]
    work = a.workdir or Path(tempfile.mkdtemp(prefix="webstar-"))
    work.mkdir(parents=True, exist_ok=True)
    shipped = GuiPolicyBackend()
    t0 = time.perf_counter()
    secs: dict[str, float] = {}

    # 1. rollouts of the shipped policy, truth on every action
    train_tasks = WORLD.sample_tasks(a.train_tasks, a.train_seed, **knobs)
    eval_tasks = WORLD.sample_tasks(a.eval_n, a.eval_seed, **knobs)
    overlap = len({t.id for t in train_tasks} & {t.id for t in eval_tasks})
    if overlap:
        raise SystemExit(f"{overlap} evaluation tasks are also training tasks: choose another --train-seed")
    rollouts = list(sample(WORLD, shipped, len(train_tasks), a.train_seed, tasks=train_tasks, temperature=1.0))
    write_trajectories(rollouts, work / "rollouts.jsonl")
    write_trajectories(map(strip_truth, rollouts), work / "stripped.jsonl")
    secs["sample"] = time.perf_counter() - t0
    log(f"{len(rollouts)} rollouts, {sum(t.outcome.correct for t in rollouts)} successful ({secs['sample']:.0f}s)")

    # 2. mc first-error on the stripped rollouts (what `stepsieve grade --grader mc` runs)
    t1 = time.perf_counter()
    grader = build_grader("mc", {"mode": "first-error", "n": a.mc_n},
                          GradeContext(backend=GuiPolicyBackend, source=work / "stripped.jsonl"))
    with bar() as prog:
        job = prog.add_task("mc first-error", total=len(rollouts))
        run_grading(grader, work / "stripped.jsonl", work / "graded.jsonl",
                    on_batch=lambda s, _: prog.update(job, completed=s.already_done + s.graded))
    graded = list(read_trajectories(work / "graded.jsonl"))
    secs["grade"] = time.perf_counter() - t1
    truth_fe = [t.first_error("truth") for t in rollouts]
    mc_fe = [t.first_error("mc") for t in graded]
    pb = processbench([x if x is not None else -1 for x in truth_fe], [x if x is not None else -1 for x in mc_fe])
    grading = {"n": a.mc_n, "probes": grader.probes,
               "rollouts_per_trajectory": round(grader.probes * a.mc_n / len(graded), 1),
               "first_error_f1_vs_truth": round(pb["average_f1"], 3),
               "exact_first_error": round(sum(p == x for p, x in zip(mc_fe, truth_fe)) / len(graded), 3),
               "seconds": round(secs["grade"], 1)}
    log(f"mc first-error F1 vs truth {grading['first_error_f1_vs_truth']} ({secs['grade']:.0f}s)")

    # 3. the training sets; the two filtered ones through the curate job
    rule = CurateOptions(mode="steps", after_error="drop")
    counts = {}
    for label, src, name in (("mc", "graded.jsonl", "filtered"), ("truth", "rollouts.jsonl", "truth_filtered")):
        counts[name] = curate_file(work / src, work / f"{name}.jsonl", Grading(label), rule)
    rows = {"all": turns(rollouts), "success": turns([t for t in rollouts if t.outcome.correct]),
            "filtered": turns(list(read_trajectories(work / "filtered.jsonl")), "curate"),
            "truth_filtered": turns(list(read_trajectories(work / "truth_filtered.jsonl")), "curate")}
    n_truth_ok = sum(r[2] for r in rows["all"])
    sets = {name: {"targets": len(r), "truth_wrong_targets": sum(not x[2] for x in r),
                   "truth_wrong_share": round(sum(not x[2] for x in r) / max(1, len(r)), 3),
                   "truth_correct_actions_kept": round(sum(x[2] for x in r) / max(1, n_truth_ok), 3),
                   "done_share": round(sum(x[1] == "done()" for x in r) / max(1, len(r)), 3),
                   "epochs": round(a.steps * a.batch / max(1, len(r)), 2)} for name, r in rows.items()}
    for name in ("filtered", "truth_filtered"):
        sets[name]["curate_counts"] = {k: v for k, v in counts[name].items() if k != "rows"}
    data = {name: examples(r) for name, r in rows.items()}

    # 4./5. equal-budget fine-tuning from the shipped policy, evaluation on fresh tasks
    t2 = time.perf_counter()
    base_fig, base_ok = evaluate(shipped, eval_tasks, a.eval_seed)
    evals: dict[str, list[dict[str, Any]]] = {"shipped": [base_fig]}
    log(f"shipped: success {base_fig['success_rate']}")
    for seed in seeds:
        for name in ARMS:
            t3 = time.perf_counter()
            net = GuiPolicyNet.load(embedded_gui_policy_dir())
            with bar() as prog:
                job = prog.add_task(f"train {name} s{seed}", total=a.steps)
                losses = train_policy(net, data[name], steps=a.steps, batch=a.batch, lr=a.lr, seed=seed,
                                      on_step=lambda i, _, job=job: prog.update(job, completed=i))
            fig, ok = evaluate(GuiPolicyBackend.from_net(net, f"{name}-s{seed}"), eval_tasks, a.eval_seed)
            fig.update(seed=seed, loss_first=round(losses[0], 4), loss_last10=round(sum(losses[-10:]) / 10, 4),
                       vs_shipped=paired_diff(ok, base_ok), seconds=round(time.perf_counter() - t3, 1))
            evals.setdefault(name, []).append(fig)
            log(f"seed {seed} {name}: success {fig['success_rate']} ({fig['vs_shipped']['diff']:+.3f} vs shipped, "
                f"{fig['seconds']:.0f}s)")
    secs["train_eval"] = time.perf_counter() - t2

    report: dict[str, Any] = {
        "command": " ".join(sys.argv), "world": "gui (embedded)", "task_steps": a.task_steps,
        "train_tasks": a.train_tasks, "train_seed": a.train_seed, "eval_n": a.eval_n, "eval_seed": a.eval_seed,
        "rollouts": {"n": len(rollouts),
                     "success_rate": round(sum(t.outcome.correct for t in rollouts) / len(rollouts), 3),
                     "actions": len(rows["all"]),
                     "action_error_rate": round(1 - n_truth_ok / max(1, len(rows["all"])), 3)},
        "grading": grading, "curate_rule": "curate --label mc --mode steps --after-error drop", "sets": sets,
        "budget": {"init": "shipped gui policy", "steps": a.steps, "batch": a.batch, "lr": a.lr, "seeds": seeds},
        "eval": evals,
        "mean_success": {k: round(sum(r["success_rate"] for r in v) / len(v), 3) for k, v in evals.items()},
        "seconds": {**{k: round(v, 1) for k, v in secs.items()}, "total": round(time.perf_counter() - t0, 1)},
        "threads": a.threads,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if a.save:
        out = ROOT / "benchmarks" / "results" / f"{a.save}.json"
        out.write_text(text + "\n")
        plot(report, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
