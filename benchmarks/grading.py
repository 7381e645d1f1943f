"""Graders measured against the truth on the embedded arith world; prints JSON.

One run over the same trajectories (sampled from the embedded policy at temperature 1.0,
at least ``--min-steps`` steps, per-step truth from the world's exact checker):

- ``rules``: precision on the steps it flags (a flagged step before the true first error
  is a false alarm; steps after the first error have no truth and are not counted);
- ``mc`` every-step and first-error at the same N and options: ProcessBench F1, rollouts,
  tokens, seconds, and the first-error / every-step rollout ratio; plus, side by side, the
  plain OmegaPRM search (no ``--threshold``/``--extend``/``--confirm``) as ``mc_first_error_plain``;
- ``judge``: the embedded verifier, one call per trajectory;
- ``consensus``: mc first-error and judge agreeing on the first error (keep rate, F1 of kept);
- ``progress``: advantages from the every-step mc values (negative = flagged);
- ``rules`` on the real ProcessBench GSM8K sample (tests/fixtures/graders).

Usage: python benchmarks/grading.py [--trajectories 300] [--n 16] [--out graded.jsonl]

``--recheck M`` (first-error only) re-estimates the dead end the search settles on with M
more rollouts; stage ``first_base`` runs the same search without it, side by side (with
``--cache``, on the very same first N rollouts, so its seconds are cache time only).

``--sampled FILE`` keeps the sampled trajectories (read back when FILE exists), so a later
run grades the very same set; ``--stages`` runs a subset of the graders and ``--graded FILE``
starts from labels an earlier run wrote with ``--out`` (e.g. the judge and consensus once a
new verifier lands, without paying for the rollouts again); ``--merge OLD.json`` carries the
earlier run's figures into the printed JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.progress import Progress

from stepsieve.backends.transformers import TransformersBackend
from stepsieve.embedded import VERIFIER_DIR, model_dir
from stepsieve.evaluate import evaluate
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.graders.consensus import ConsensusGrader
from stepsieve.graders.judge import JudgeGrader
from stepsieve.graders.mc import MCGrader
from stepsieve.graders.progress import ProgressGrader
from stepsieve.graders.rules import RulesGrader
from stepsieve.trajectory import Label, Outcome, Step, Trajectory
from stepsieve.worlds.arith import ArithWorld, task_to_dict

ROOT = Path(__file__).resolve().parents[1]
# mc options of both modes; the defaults are the ones chosen on a dev set (docs/graders.md)
MC_DEFAULTS = {"temperature": 1.0, "threshold": 0.0, "extend": 0, "confirm": True, "rollout_check": "rules",
               "recheck": 16}  # recheck: chosen on benchmarks/mc_dev.py's dev set (seed 1000)


def sample(backend, world, count: int, min_steps: int, seed: int, max_tokens: int) -> list[Trajectory]:
    """``count`` policy solutions with at least ``min_steps`` steps, with truth labels."""
    out: list[Trajectory] = []
    round_ = 0
    while len(out) < count:
        tasks = world.sample_tasks(2 * count, seed=seed + round_, ops=(4, 6))
        gens = backend.generate([world.prompt(t) for t in tasks], n=1, max_tokens=max_tokens, temperature=1.0,
                                seed=seed + round_)
        for task, (g,) in zip(tasks, gens):
            steps = world.split_steps(g.text)
            if len(steps) < min_steps:
                continue
            fe = world.first_error(task, steps)
            answer = world.parse_answer(g.text)
            t = Trajectory(
                f"arith-{seed}-{round_}-{task.id}", task.problem, [Step(i, s) for i, s in enumerate(steps)],
                Outcome(answer, world.check_answer(task, answer)), task.answer,
                {"world": "arith", "task": task_to_dict(task), "split": "arith"},
            )
            for i, s in enumerate(t.steps):
                v = "correct" if fe == -1 or i < fe else ("incorrect" if i == fe else None)
                s.labels["truth"] = Label(verdict=v)
            out.append(t)
            if len(out) == count:
                break
        round_ += 1
        if round_ == 10 and len(out) < count:
            raise SystemExit(f"only {len(out)} of {count} samples had >= {min_steps} steps after 10 rounds")
    return out


def run(grader, ts: list[Trajectory], batch: int, progress: Progress, what: str) -> tuple[list[Trajectory], float]:
    task = progress.add_task(what, total=len(ts))
    t0 = time.perf_counter()
    kept = []
    for i in range(0, len(ts), batch):
        kept += list(grader.grade(ts[i : i + batch]))
        progress.advance(task, min(batch, len(ts) - i))
    return kept, time.perf_counter() - t0


def figures(ts: list[Trajectory], label: str, seconds: float | None) -> dict:
    """ProcessBench and step figures of ``label`` over the trajectories it labelled;
    ``seconds`` None: the sum of the labels' own cost seconds (graded in another process)."""
    ts = [t for t in ts if t.steps and label in t.steps[0].labels]
    rep = evaluate(ts, label, "truth")
    per = rep["cost"]["per_trajectory"]
    return {
        "first_error_f1": rep["processbench"]["average_f1"],
        "acc_error": rep["processbench"]["splits"]["arith"]["acc_error"],
        "acc_correct": rep["processbench"]["splits"]["arith"]["acc_correct"],
        "step_f1": rep["steps"]["f1"],
        "step_negative_f1": rep["steps"]["negative_f1"],
        "flagged_precision": rep["steps"]["precision_wrong"],
        "flagged": rep["steps"]["flagged"],
        "calls_per_trajectory": per["calls"],
        "generated_tokens_per_trajectory": per["tokens_out"],
        "seconds": round(rep["cost"]["total"]["seconds"] if seconds is None else seconds, 2),
        "label_seconds": round(rep["cost"]["total"]["seconds"], 2),
        "trajectories": rep["trajectories"],
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def processbench_rules() -> dict:
    items = json.loads((ROOT / "tests/fixtures/graders/processbench_gsm8k_sample.json").read_text())
    ts = [Trajectory(x["id"], x["problem"], [Step(i, s) for i, s in enumerate(x["steps"])]) for x in items]
    ok = bad = after = 0
    for x, t in zip(items, RulesGrader().grade(ts)):
        for i, s in enumerate(t.steps):
            if s.labels["rules"].verdict != "incorrect":
                continue
            if x["label"] != -1 and i == x["label"]:
                ok += 1
            elif x["label"] == -1 or i < x["label"]:
                bad += 1
            else:
                after += 1
    decided = ok + bad
    return {
        "items": len(items),
        "flagged_with_truth": decided,
        "flagged_after_first_error": after,
        "precision": ok / decided if decided else None,
        "recall_of_first_errors": ok / sum(1 for x in items if x["label"] != -1),
    }


STAGES = ("rules", "every", "first", "first_base", "plain", "progress", "judge", "consensus")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=300)
    ap.add_argument("--n", type=int, default=16, help="rollouts per probed prefix (both mc modes)")
    ap.add_argument("--min-steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--batch-rows", type=int, default=256, help="sequences decoded together by the backend")
    ap.add_argument("--model", default=None, help="policy directory (default: the embedded policy)")
    ap.add_argument("--out", default=None, help="also write the graded trajectories (JSONL)")
    ap.add_argument("--sampled", default=None, help="sampled trajectories: read if the file exists, else written")
    ap.add_argument("--graded", default=None, help="start from the labelled trajectories of an earlier --out")
    ap.add_argument("--cache", default=None, help="seeded request cache (sqlite): a re-run reuses its rollouts")
    ap.add_argument("--merge", default=None, help="an earlier run's JSON whose figures this run extends")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--skip-every-step", action="store_true", help="skip the costly every-step baseline")
    ap.add_argument("--every-step-limit", type=int, default=None,
                    help="run the every-step baseline on the first K trajectories only (ratios on those K)")
    ap.add_argument("--mc-temperature", type=float, default=MC_DEFAULTS["temperature"], help="rollout temperature")
    ap.add_argument("--threshold", type=float, default=MC_DEFAULTS["threshold"], help="mc dead end: value <= this")
    ap.add_argument("--extend", type=int, default=MC_DEFAULTS["extend"], help="mc: extra rollouts for a dead end")
    ap.add_argument("--recheck", type=int, default=MC_DEFAULTS["recheck"],
                    help="mc first-error: extra rollouts for the dead end the search settles on")
    ap.add_argument("--confirm", action=argparse.BooleanOptionalAction, default=MC_DEFAULTS["confirm"],
                    help="mc: a dead end needs a dead right neighbour")
    ap.add_argument("--rollout-check", default=MC_DEFAULTS["rollout_check"], choices=["rules", "none"],
                    help="mc: a successful rollout must also pass the rules checker ('none': pure MC)")
    a = ap.parse_args()
    stages = set(a.stages.split(","))
    if stages - set(STAGES):
        raise SystemExit(f"unknown stage(s): {','.join(sorted(stages - set(STAGES)))}")
    if a.skip_every_step:
        stages -= {"every", "progress"}

    world = ArithWorld()
    cache = None
    if a.cache:
        from stepsieve.backends import RequestCache

        cache = RequestCache(a.cache)
    policy = TransformersBackend(a.model or model_dir("policy"), max_batch_rows=a.batch_rows, cache=cache)
    result: dict = {}
    for old in a.merge.split(",") if a.merge else []:  # earlier runs' figures, graders merged
        prev = json.loads(Path(old).read_text())
        result["graders"] = {**result.get("graders", {}), **prev.pop("graders", {})}
        result.update(prev)
    result.update({"world": "arith", "n": a.n, "min_steps": a.min_steps, "policy": str(policy.model)})
    opts = {"temperature": a.mc_temperature, "threshold": a.threshold, "extend": a.extend, "confirm": a.confirm,
            "rollout_check": None if a.rollout_check == "none" else a.rollout_check}
    fe_opts = {**opts, "recheck": a.recheck}  # first-error only (every-step re-estimates with --extend)
    result["mc_options"] = {**opts, "recheck_first_error": a.recheck}
    graders: dict = result.setdefault("graders", {})
    with Progress(transient=True, console=None) as progress:
        t0 = time.perf_counter()
        if a.graded:
            ts = _merged_labels(a.graded.split(","))
        elif a.sampled and Path(a.sampled).is_file():
            ts = list(read_trajectories(a.sampled))
        else:
            ts = sample(policy, world, a.trajectories, a.min_steps, a.seed, a.max_tokens)
            result["sampling_seconds"] = round(time.perf_counter() - t0, 2)
            if a.sampled:
                write_trajectories(ts, a.sampled)
        n_err = sum(1 for t in ts if t.first_error("truth") not in (-1, None))
        result["trajectories"] = {"count": len(ts), "with_error": n_err,
                                  "with_error_and_right_answer": sum(
                                      1 for t in ts if t.first_error("truth") not in (-1, None) and t.outcome.correct),
                                  "mean_steps": sum(len(t.steps) for t in ts) / len(ts)}
        if "rules" in stages:
            _, s = run(RulesGrader(), ts, a.batch, progress, "rules")
            graders["rules"] = figures(ts, "rules", s)
        kw = dict(n=a.n, max_tokens=a.max_tokens, seed=a.seed)
        if "every" in stages:
            sub = ts[: a.every_step_limit]
            _, s = run(MCGrader(policy, world, mode="every-step", name="mc_every", **kw, **opts), sub, a.batch,
                       progress, "mc every-step")
            graders["mc_every_step"] = figures(sub, "mc_every", s)
        if "first" in stages:
            _, s = run(MCGrader(policy, world, mode="first-error", name="mc_first", **kw, **fe_opts), ts, a.batch,
                       progress, "mc first-error")
            graders["mc_first_error"] = figures(ts, "mc_first", s)
        if "first_base" in stages:  # side by side: the same options without --recheck (its first N rollouts)
            _, s = run(MCGrader(policy, world, mode="first-error", name="mc_first_base", **kw, **opts), ts, a.batch,
                       progress, "mc first-error, no recheck")
            graders["mc_first_error_no_recheck"] = figures(ts, "mc_first_base", s)
        if "plain" in stages:
            _, s = run(MCGrader(policy, world, mode="first-error", name="mc_plain", temperature=1.0, **kw), ts,
                       a.batch, progress, "mc first-error, plain")
            graders["mc_first_error_plain"] = figures(ts, "mc_plain", s)
            graders["mc_first_error_plain"]["options"] = "temperature 1.0, threshold 0, no extend, no confirm"
        for key, name in (("rules", "rules"), ("mc_every_step", "mc_every"), ("mc_first_error", "mc_first"),
                          ("mc_first_error_plain", "mc_plain")):
            if key not in graders and _has(ts, name):  # labels from --graded files: seconds from label costs
                graders[key] = {**figures(ts, name, None), "seconds_from": "label costs (graded by another process)"}
        if _has(ts, "mc_every") and _has(ts, "mc_first"):
            sub = [t for t in ts if "mc_every" in t.steps[0].labels and "mc_first" in t.steps[0].labels]
            es = figures(sub, "mc_every", graders["mc_every_step"]["seconds"])
            fe = figures(sub, "mc_first", graders.get("mc_first_error", {}).get("seconds", 0.0))
            if len(sub) < len(ts) or not {"every", "first"} <= stages:  # seconds from the label costs
                fe["seconds"], es_s = fe["label_seconds"], es["label_seconds"]
            else:
                es_s = es["seconds"]
            result["mc_first_error_vs_every_step"] = {
                "trajectories": len(sub),
                "first_error_on_these": {k: fe[k] for k in ("first_error_f1", "acc_error", "acc_correct")},
                "rollout_ratio": _ratio(fe["calls_per_trajectory"], es["calls_per_trajectory"]),
                "token_ratio": _ratio(fe["generated_tokens_per_trajectory"], es["generated_tokens_per_trajectory"]),
                "seconds_ratio": _ratio(fe["seconds"], es_s),
                "f1_difference": None if None in (fe["first_error_f1"], es["first_error_f1"])
                else fe["first_error_f1"] - es["first_error_f1"],
            }
        prev_every = graders.get("mc_every_step")
        if prev_every and not _has(ts, "mc_every") and _has(ts, "mc_first"):
            # Every-step figures carried over by --merge (same sampled file, same N): its rollouts are
            # N per non-terminal prefix whatever the temperature or recheck, so the ratio holds on the
            # same first K trajectories.
            sub = ts[: prev_every["trajectories"]]
            fe = figures(sub, "mc_first", None)
            result["mc_first_error_vs_every_step"] = {
                "trajectories": len(sub), "every_step_from": "--merge",
                "first_error_on_these": {k: fe[k] for k in ("first_error_f1", "acc_error", "acc_correct")},
                "rollout_ratio": _ratio(fe["calls_per_trajectory"], prev_every["calls_per_trajectory"]),
                "token_ratio": _ratio(fe["generated_tokens_per_trajectory"],
                                      prev_every["generated_tokens_per_trajectory"]),
                "f1_difference": fe["first_error_f1"] - prev_every["first_error_f1"],
            }
        if "progress" in stages and _has(ts, "mc_every"):
            sub = [t for t in ts if "mc_every" in t.steps[0].labels]
            _, s = run(ProgressGrader(source="mc_every"), sub, a.batch, progress, "progress")
            graders["progress"] = figures(sub, "progress", s)
        if "judge" in stages:
            if (VERIFIER_DIR / "model.safetensors").is_file():
                _, s = run(JudgeGrader(), ts, a.batch, progress, "judge")
                graders["judge_embedded_verifier"] = figures(ts, "judge", s)
                graders["judge_embedded_verifier"]["verifier"] = _weights_stamp(VERIFIER_DIR)
            else:
                result["judge"] = "skipped: the embedded verifier is not trained"
        both = [t for t in ts if _has([t], "mc_first") and _has([t], "judge")]
        if "consensus" in stages and both:
            cons = ConsensusGrader("mc_first", "judge")
            kept, s = run(cons, both, a.batch, progress, "consensus")
            fig = figures(kept, "consensus", s) if kept else {}
            fig["keep_rate"] = cons.keep_rate
            graders["consensus_mc_first_error_judge"] = fig
        if "rules" in stages:
            result["rules_processbench_gsm8k_sample"] = processbench_rules()
        result["backend_cost"] = policy.cost.to_dict()
    if a.out:
        write_trajectories(ts, a.out)
    json.dump(result, sys.stdout, indent=2)
    print()


def _has(ts: list[Trajectory], label: str) -> bool:
    return any(label in t.steps[0].labels for t in ts)


def _merged_labels(paths: list[str]) -> list[Trajectory]:
    """The trajectories of the first file with every label the other files add (same ids)."""
    ts = list(read_trajectories(paths[0]))
    by_id = {t.id: t for t in ts}
    for path in paths[1:]:
        for t in read_trajectories(path):
            mine = by_id[t.id]
            for s, o in zip(mine.steps, t.steps):
                for name, lab in o.labels.items():
                    s.labels.setdefault(name, lab)
    return ts


def _weights_stamp(path: Path) -> dict:
    """Which verifier weights judged: size, modification time and a hash prefix."""
    import hashlib

    f = path / "model.safetensors"
    st = f.stat()
    return {"bytes": st.st_size, "mtime_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
            "sha256_16": hashlib.sha256(f.read_bytes()).hexdigest()[:16]}


if __name__ == "__main__":
    main()
