"""The vision StepRM on held-out gui rollouts: F1 vs truth with the screen and blanked, cost vs mc.

    python benchmarks/gui_steprm.py --n 300 --seed 0 --train runs/gui_steprm/train.mc.jsonl \
        --train-truth runs/gui_steprm/train.jsonl --save gui_steprm_300

One run, prints JSON (and saves it under benchmarks/results/ with --save NAME):

- ``test``: N fresh 5-8-step tasks from ``--seed`` (the training run's seed is 1000: the
  overlap of task ids is reported), one rollout each of the embedded gui policy at temperature
  1; the truth is kept aside and every grader reads a copy without it;
- ``steprm``: the vision StepRM (default: the shipped ``embedded/gui_steprm``) through the
  ``prm`` grader: ProcessBench first-error F1 vs truth, wall seconds, forward FLOPs;
- ``blanked_at_scoring``: the same weights with every pixel zeroed;
- ``blanked_trained`` (``--train``): the same architecture, options and labels trained with the
  images blanked from the start (the fair ablation: what the text side alone learns);
- ``targets`` (``--train`` and ``--compare-targets``): the model retrained on each other target
  rule, same options, F1 vs truth on the test set;
- ``mc_first_error``: ``mc --mode first-error`` (``--mc-n`` rollouts, the same policy) on the same
  rollouts: F1 vs truth, wall seconds and its policy FLOPs (forward passes x FLOPs of one);
- ``train_labels`` (``--train-truth``): on the training split, the first-error F1 vs truth of
  each target rule applied to the mc labels (what the model is taught, measured against what
  it never sees).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.backends.gui_policy import GuiPolicyBackend, candidates  # noqa: E402
from stepsieve.evaluate import processbench  # noqa: E402
from stepsieve.formats import read_trajectories, write_trajectories  # noqa: E402
from stepsieve.graders.mc import MCGrader  # noqa: E402
from stepsieve.media import MediaResolver, MediaStore  # noqa: E402
from stepsieve.prm import PRMGrader  # noqa: E402
from stepsieve.prm._threshold import first_error_at  # noqa: E402
from stepsieve.prm.vision import (  # noqa: E402
    TARGETS,
    VisionScorer,
    VisionStepRM,
    VisionStepRMConfig,
    VisionTrainOptions,
    prepare,
    step_targets_from_mc,
    train_vision_prm,
)
from stepsieve.sampling import sample  # noqa: E402
from stepsieve.worlds.gui import GuiWorld  # noqa: E402

SHIPPED = ROOT / "src" / "stepsieve" / "embedded" / "gui_steprm"


def strip(ts: list) -> list:
    """The trajectories without their truth labels (in place: callers pass fresh reads)."""
    for t in ts:
        for s in t.steps:
            s.labels.pop("truth", None)
    return ts


def f1(truth: list[int], pred: list[int]) -> dict[str, Any]:
    pb = processbench(truth, pred)["splits"]["all"]
    return {"f1": round(pb["f1"], 4), "acc_error": round(pb["acc_error"], 4),
            "acc_correct": round(pb["acc_correct"], 4)}


def score_f1(scores: list[list[float]], threshold: float, truth: list[int]) -> dict[str, Any]:
    return f1(truth, [first_error_at(s, threshold) for s in scores])


def policy_flops_per_call(policy: GuiPolicyBackend, prompts: list[str]) -> float:
    """Forward FLOPs of one policy call: 2 x the non-embedding parameters per candidate, times the
    mean number of candidates of the prompts (embedding look-ups counted as free)."""
    per_cand = sum(p.numel() for n, p in policy.net.named_parameters() if not n.startswith(("emb", "pos")))
    cands = sum(len(candidates(p)[2]) for p in prompts) / max(1, len(prompts))
    return 2.0 * per_cand * cands


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--steps", default="5-8")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=SHIPPED)
    ap.add_argument("--train", type=Path, default=None, help="the mc-graded training file (for the ablations)")
    ap.add_argument("--train-truth", type=Path, default=None, help="the training rollouts with their truth")
    ap.add_argument("--compare-targets", action="store_true")
    ap.add_argument("--mc", type=int, default=None, help="run mc on the first K rollouts only (default: all)")
    ap.add_argument("--mc-n", type=int, default=8)
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "gui_steprm_bench")
    ap.add_argument("--save", default=None)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    a.workdir.mkdir(parents=True, exist_ok=True)
    world, policy = GuiWorld(), GuiPolicyBackend()
    lo, _, hi = a.steps.partition("-")
    test_file = a.workdir / f"test_{a.n}_seed{a.seed}.jsonl"
    if not test_file.exists():
        write_trajectories(sample(world, policy, a.n, a.seed, knobs={"steps": (int(lo), int(hi or lo))},
                                  temperature=1.0, media=MediaStore.for_output(test_file)), test_file)
    with_truth = list(read_trajectories(test_file))
    truth = [t.first_error("truth") for t in with_truth]
    truth = [-1 if x is None else x for x in truth]
    bare = strip(list(read_trajectories(test_file)))
    report: dict[str, Any] = {"command": " ".join(sys.argv), "n": len(bare), "seed": a.seed, "steps": a.steps,
                              "with_error": sum(x >= 0 for x in truth), "model": str(a.model)}
    if a.train is not None:
        train_tasks = {(t.meta or {}).get("task", {}).get("id") for t in read_trajectories(a.train)}
        report["test_tasks_seen_in_training"] = sum((t.meta or {}).get("task", {}).get("id") in train_tasks
                                                    for t in bare)

    # -- the vision StepRM through the prm grader, then the same weights blind --
    grader = PRMGrader(a.model, source=test_file, batch_size=16)
    t0 = time.perf_counter()
    graded = list(grader.grade(strip(list(read_trajectories(test_file)))))
    wall = time.perf_counter() - t0
    model = VisionStepRM.load(a.model)
    scorer = VisionScorer(model, resolver=MediaResolver(test_file))
    scores = scorer.score_steps(bare)
    cfg = model.config
    report["steprm"] = {
        **f1(truth, [t.first_error("prm") for t in graded]),
        "threshold": grader.threshold, "trained_on": cfg.label, "targets": cfg.targets,
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_bytes": sum(f.stat().st_size for f in a.model.iterdir()),
        "seconds": round(wall, 2), "seconds_per_trajectory": round(wall / len(bare), 4),
        "flops": scorer.flops, "flops_per_trajectory": round(scorer.flops / len(bare)),
        "f1_at_0.5": score_f1(scores, 0.5, truth)["f1"],
    }
    model.config.blank_images = True
    blind = VisionScorer(model, resolver=MediaResolver(test_file)).score_steps(bare)
    report["blanked_at_scoring"] = score_f1(blind, cfg.threshold, truth)
    model.config.blank_images = False

    # -- the ablations: retrained blind, and the other target rules --
    if a.train is not None:
        opts = VisionTrainOptions(**cfg.training.get("options", {}))
        base = {k: getattr(cfg, k) for k in ("screen", "band", "buckets", "text_dim", "channels", "hidden")}
        runs = [("blanked_trained", {"blank_images": True, "targets": cfg.targets})]
        if a.compare_targets:
            runs += [(f"targets_{t}", {"targets": t}) for t in TARGETS if t != cfg.targets]
        cache: dict[str, Any] = {}
        for name, over in runs:
            c = VisionStepRMConfig(**base, label=cfg.label, **over)  # type: ignore[arg-type]
            key = c.targets
            if key not in cache:
                cache[key] = prepare(read_trajectories(a.train), c, MediaResolver(a.train))[0]
            t1 = time.perf_counter()
            m = train_vision_prm([], out=None, source=a.train, label=cfg.label, targets=c.targets, config=c,
                                 options=opts, examples=cache[key])
            s = VisionScorer(m, resolver=MediaResolver(test_file)).score_steps(bare)
            report[name] = {**score_f1(s, m.config.threshold, truth), "threshold": m.config.threshold,
                            "train_seconds": round(time.perf_counter() - t1, 1)}

    # -- mc first-error on the same rollouts, side by side --
    mc_policy = GuiPolicyBackend()
    mc = MCGrader(mc_policy, world, mode="first-error", n=a.mc_n, max_turns=world.max_turns, name="mc")
    t0 = time.perf_counter()
    k = a.mc or len(bare)
    mc_graded = list(mc.grade(strip(list(read_trajectories(test_file)))[:k]))
    mc_wall = time.perf_counter() - t0
    prompts = [world.prompt(world.task_from_trajectory(t), [s.text for s in t.steps[:k]])
               for t in bare[:20] for k in range(len(t.steps))]
    per_call = policy_flops_per_call(mc_policy, prompts)
    calls = mc_policy.cost.calls
    mc_pred = [-1 if t.first_error("mc") is None else t.first_error("mc") for t in mc_graded]
    report["mc_first_error"] = {
        **f1(truth[:k], mc_pred), "trajectories": k,
        "steprm_on_the_same": f1(truth[:k], [t.first_error("prm") for t in graded[:k]]),
        "n": a.mc_n, "probes": mc.probes, "rollouts_per_trajectory": round(mc.probes * a.mc_n / k, 1),
        "policy_calls": calls, "seconds": round(mc_wall, 2), "seconds_per_trajectory": round(mc_wall / k, 4),
        "flops": round(calls * per_call), "flops_per_trajectory": round(calls * per_call / k),
    }
    st, m_ = report["steprm"], report["mc_first_error"]
    report["steprm_vs_mc"] = {"wall_per_trajectory_ratio": round(m_["seconds_per_trajectory"]
                                                                  / max(st["seconds_per_trajectory"], 1e-9), 2),
                              "flops_per_trajectory_ratio": round(m_["flops_per_trajectory"]
                                                                  / max(st["flops_per_trajectory"], 1), 4),
                              "f1_gain": round(st["f1"] - m_["f1"], 4),
                              "f1_gain_over_blanked_trained": (round(st["f1"] - report["blanked_trained"]["f1"], 4)
                                                               if "blanked_trained" in report else None)}

    # -- what the targets teach, on the training split, against its truth --
    if a.train is not None and a.train_truth is not None:
        by_id = {t.id: t for t in read_trajectories(a.train_truth)}
        rows: dict[str, list[tuple[int, int]]] = {t: [] for t in TARGETS}
        for t in read_trajectories(a.train):
            ref = by_id.get(t.id)
            if ref is None:
                continue
            x = ref.first_error("truth")
            for rule in TARGETS:
                ys = step_targets_from_mc(t, cfg.label, rule)
                rows[rule].append((-1 if x is None else x, first_error_at([1.0 if y is None else y for y in ys], 0.5)))
        report["train_labels"] = {rule: {**f1([r for r, _ in v], [p for _, p in v]), "n": len(v)}
                                  for rule, v in rows.items()}
    text = json.dumps(report, indent=1)
    print(text)
    if a.save:
        (ROOT / "benchmarks" / "results" / f"{a.save}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
