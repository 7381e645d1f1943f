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
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.graders.mc import MCGrader
from stepsieve.prm import PRMGrader, TrainOptions, default_model_dir, train_prm
from stepsieve.prm._render import DEFAULT_TEMPLATE
from stepsieve.sampling import sample
from stepsieve.worlds import Task, get_world

ROOT = Path(__file__).resolve().parent.parent


def _cost(rep: dict) -> dict:
    per = rep["cost"]["per_trajectory"]
    return {"calls": per["calls"], "tokens": per["tokens_in"] + per["tokens_out"], "seconds": per["seconds"]}


def _log(msg: str) -> None:
    print(f"[distill] {msg}", file=sys.stderr, flush=True)


CHUNK = 250  # trajectories per cached part of the train split


def _sample_and_grade(world, backend, tasks, args, stages: list) -> list:
    """Sample one trajectory per task from the policy and label it with ``mc`` (first error)."""
    t0 = time.perf_counter()
    trajs = list(sample(world, backend, len(tasks), args.seed, tasks=tasks, max_tokens=args.max_tokens))
    stages.append({"name": "sample", "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(trajs)})
    t0 = time.perf_counter()
    mc = _mc_grader(backend, world, args, args.seed)
    graded = list(mc.grade(trajs))
    stages.append({"name": f"grade mc first-error{_mc_suffix(args) and ' ' + _mc_suffix(args)[1:]}",
                   "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(graded)})
    _log(f"graded mc: {stages[-1]}")
    return graded


def _mc_grader(backend, world, args, seed: int) -> MCGrader:
    return MCGrader(backend, world, n=args.mc_n, mode="first-error", seed=seed, max_tokens=args.max_tokens,
                    rollout_check=args.mc_rollout_check, confirm=args.mc_confirm)


def _mc_suffix(args) -> str:
    """File-name key of the mc options beyond plain first-error search: '' for plain, else e.g.
    '.mc-rules-confirm', so a cache directory never mixes labels made with different options."""
    key = "".join(f"-{k}" for k, on in (("rules", args.mc_rollout_check == "rules"), ("confirm", args.mc_confirm))
                  if on)
    return f".mc{key}" if key else ""


def _relabel(world, backend, plain: Path, args, stages: list) -> list:
    """The cached part's trajectories (same samples as the plain part) with their ``mc`` labels
    dropped and graded again with this run's mc options; ``truth`` is kept for evaluation."""
    trajs = []
    for t in read_trajectories(plain):
        d = t.to_dict()
        for s in d["steps"]:
            s.get("labels", {}).pop("mc", None)
        trajs.append(type(t).from_dict(d))
    t0 = time.perf_counter()
    graded = list(_mc_grader(backend, world, args, args.seed).grade(trajs))
    stages.append({"name": f"grade mc first-error {_mc_suffix(args)[1:]} (relabel)",
                   "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(graded)})
    _log(f"relabelled {plain.name}: {stages[-1]}")
    return graded


def _cached_splits(world, backend, args, stages: list) -> tuple[list, list]:
    """The train and test splits from ``--data``: parts of CHUNK trajectories, each sampled and
    graded once (``--parts`` picks which a process makes, so parts can be made in parallel)."""
    lo, _, hi = args.ops.partition("-")
    knobs = {"ops": (int(lo), int(hi or lo))}
    # The test tasks come from their own seed, so a larger --train adds parts and keeps the test split.
    parts = {"test": world.sample_tasks(args.test, args.seed + 7919, **knobs)}
    tasks = world.sample_tasks(args.train, args.seed, **knobs)  # a prefix of any larger --train
    for k in range(0, args.train, CHUNK):
        parts[f"train-{k // CHUNK:03d}"] = tasks[k : k + CHUNK]
    want = {"ops": args.ops, "mc_n": args.mc_n, "seed": args.seed, "max_tokens": args.max_tokens, "test": args.test,
            "chunk": CHUNK}
    args.data.mkdir(parents=True, exist_ok=True)
    meta_path = args.data / "data.json"
    if meta_path.is_file() and json.loads(meta_path.read_text()) != want:
        sys.exit(f"{args.data} holds {meta_path.read_text()}, not {want}: use another --data directory")
    meta_path.write_text(json.dumps(want) + "\n")
    chosen = args.parts.split(",") if args.parts else list(parts)
    for name in chosen:
        if name not in parts:
            sys.exit(f"--parts: no part {name!r}; parts are {', '.join(parts)}")
        path = args.data / f"{name}{_mc_suffix(args)}.jsonl"
        if path.is_file():
            continue
        st: list = []
        plain = args.data / f"{name}.jsonl"
        if path != plain and plain.is_file():  # same samples, labels made with other mc options
            graded = _relabel(world, backend, plain, args, st)
        else:
            graded = _sample_and_grade(world, backend, parts[name], args, st)
        write_trajectories(graded, path.with_suffix(".tmp"))
        (args.data / f"{name}{_mc_suffix(args)}.stages.json").write_text(json.dumps(st) + "\n")
        path.with_suffix(".tmp").replace(path)
    if args.data_only:
        return [], []
    sfx = _mc_suffix(args)
    missing = [n for n in parts if not (args.data / f"{n}{sfx}.jsonl").is_file()]
    if missing:
        sys.exit(f"{args.data}: parts {missing} ({sfx or 'plain mc'}) not made yet")
    for name in parts:
        for st in json.loads((args.data / f"{name}{sfx}.stages.json").read_text()):
            stages.append({**st, "name": f"{st['name']} ({name})"})
    train = [t for n in parts if n != "test" for t in read_trajectories(args.data / f"{n}{sfx}.jsonl")]
    test = list(read_trajectories(args.data / f"test{sfx}.jsonl"))
    _log(f"{len(train)} + {len(test)} mc-graded trajectories from {args.data}")
    return train, test


def _shape(model) -> dict:
    """What one token costs a causal LM (or its backbone) to encode: the parameters every token
    is multiplied through (the input embedding is a lookup, so it is left out; a tied or untied
    LM head is counted apart, as ``vocab x hidden``), and the attention width per layer."""
    base = getattr(model, "model", model)  # LlamaForCausalLM -> LlamaModel; a backbone is itself
    emb = base.get_input_embeddings().weight
    c = base.config
    heads = c.num_attention_heads
    return {"non_embedding_params": sum(p.numel() for p in base.parameters() if p is not emb),
            "layers": c.num_hidden_layers,
            "attn_width": heads * (getattr(c, "head_dim", None) or c.hidden_size // heads),
            "lm_head_params": emb.shape[0] * emb.shape[1]}


def _flops(shape: dict, tokens: int, lm_head_rows: int, attn_pairs: int) -> float:
    """Forward FLOPs: 2 x non-embedding params per token encoded, 2 x vocab x hidden per row of
    logits computed, and 4 x attention width per (query, key) pair per layer (QK^T and AV)."""
    return (2.0 * shape["non_embedding_params"] * tokens + 2.0 * shape["lm_head_params"] * lm_head_rows
            + 4.0 * shape["attn_width"] * shape["layers"] * attn_pairs)


class _MCRecorder:
    """Wraps ``backend.generate`` to count what mc's rollouts attend over: the (query, key) pairs
    of decoding (each generated token fed back attends to its prompt and the tokens before it),
    and of prefill as if every prompt were encoded alone (an upper bound: the backend encodes a
    prefix shared by prompts once), and the logit rows (one per generated token). The calls only
    keep the prompts and generated lengths; ``counts()`` tokenizes them afterwards, outside the timed run."""

    def __init__(self, backend) -> None:
        self.backend, self.inner = backend, backend.generate
        self.seen: list[tuple[str, list[int]]] = []

    def __call__(self, prompts, *a, **kw):
        out = self.inner(prompts, *a, **kw)
        self.seen.extend((p, [g.tokens for g in row]) for p, row in zip(prompts, out))
        return out

    def counts(self) -> tuple[int, int, int]:
        """``(decode_pairs, prefill_pairs, logit_rows)`` over every recorded call."""
        decode = prefill = rows = 0
        for p, lengths in self.seen:
            n = len(self.backend.encode(p))
            prefill += n * (n + 1) // 2
            for t in lengths:
                fed = max(t - 1, 0)  # the last token is sampled, never fed back
                decode += fed * (n + 1) + fed * (fed - 1) // 2
                rows += t
        return decode, prefill, rows


def _side_by_side(world, backend, test: list, steprm: Path, args) -> dict:
    """Both graders' cost on the same test trajectories, back to back in this process (so load
    on a shared machine hits both alike): mc with its batching, the StepRM with ``--score-batch``."""
    def fresh(ts: list) -> list:
        out = []
        for t in ts:
            d = t.to_dict()
            for st in d["steps"]:
                st["labels"] = {}
            out.append(type(t).from_dict(d))
        return out

    items = test[: args.side_by_side]
    mc = _mc_grader(backend, world, args, args.seed + 1)
    prm = PRMGrader(steprm, device="cpu", batch_size=args.score_batch)
    list(prm.grade(fresh(items[: args.score_batch])))  # warm-up
    rows = {}
    for name, grader in (("mc", mc), ("prm", prm), ("prm_again", prm)):
        rec, fwd0 = _MCRecorder(backend), backend.forward_tokens
        if name == "mc":
            backend.generate = rec
        t0 = time.perf_counter()
        try:
            graded = list(grader.grade(fresh(items)))
        finally:
            backend.generate = rec.inner
        wall = time.perf_counter() - t0
        label = "mc" if name == "mc" else "prm"
        calls = sum(st.labels[label].cost.calls for t in graded for st in t.steps if st.labels.get(label))
        toks = sum(st.labels[label].cost.tokens_in + st.labels[label].cost.tokens_out
                   for t in graded for st in t.steps if st.labels.get(label))
        rows[name] = {"trajectories": len(graded), "wall_seconds_per_trajectory": wall / len(graded),
                      "calls_per_trajectory": calls / len(graded), "tokens_per_trajectory": toks / len(graded)}
        if name == "mc":  # real tokens the policy encoded (a prefix shared by prompts counted once)
            shape, fwd = _shape(backend.lm), backend.forward_tokens - fwd0
            decode, prefill, rows_out = rec.counts()
            low = _flops(shape, fwd, rows_out, decode)
            high = _flops(shape, fwd, rows_out, decode + prefill)
        else:  # one pass: every position gives logits (the log-prob features), causal attention
            shape = _shape(prm._model.backbone)
            lens = [t.steps[0].labels["prm"].cost.tokens_in for t in graded if t.steps]
            fwd = sum(lens)
            low = high = _flops(shape, fwd, fwd, sum(n * (n + 1) // 2 for n in lens))
        rows[name].update({"model": shape, "forward_tokens_per_trajectory": fwd / len(graded),
                           "flops_per_trajectory": [low / len(graded), high / len(graded)],
                           "flops_linear_only_per_trajectory": 2.0 * shape["non_embedding_params"] * fwd / len(graded)})
    best = min(rows["prm"]["wall_seconds_per_trajectory"], rows["prm_again"]["wall_seconds_per_trajectory"])
    rows["ratio_wall_seconds"] = rows["mc"]["wall_seconds_per_trajectory"] / best
    rows["ratio_calls"] = rows["mc"]["calls_per_trajectory"] / rows["prm"]["calls_per_trajectory"]
    rows["ratio_tokens"] = rows["mc"]["tokens_per_trajectory"] / rows["prm"]["tokens_per_trajectory"]
    rows["ratio_forward_tokens"] = (rows["mc"]["forward_tokens_per_trajectory"]
                                    / rows["prm"]["forward_tokens_per_trajectory"])
    # [mc without its prefill attention, mc with every prompt's prefill attention] / prm
    rows["ratio_flops"] = [f / rows["prm"]["flops_per_trajectory"][0] for f in rows["mc"]["flops_per_trajectory"]]
    rows["ratio_flops_linear_only"] = (rows["mc"]["flops_linear_only_per_trajectory"]
                                       / rows["prm"]["flops_linear_only_per_trajectory"])
    return rows


def _finished_splits(data: Path, sfx: str) -> tuple[list, list]:
    """The train parts and the test split of a finished ``--data`` directory (made by another run)."""
    meta = data / "data.json"
    if not meta.is_file():
        sys.exit(f"--extra-data {data}: no data.json (make it with --data {data} --data-only)")
    train = [t for p in sorted(data.glob(f"train-[0-9][0-9][0-9]{sfx}.jsonl")) for t in read_trajectories(p)]
    test_path = data / f"test{sfx}.jsonl"
    if not train or not test_path.is_file():
        sys.exit(f"--extra-data {data}: parts ({sfx or 'plain mc'}) not made yet")
    test = list(read_trajectories(test_path))
    _log(f"+ {len(train)} train, {len(test)} test mc-graded trajectories from {data} ({meta.read_text().strip()})")
    return train, test


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", type=Path, default=ROOT / "src/stepsieve/embedded/policy")
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--ops", default="3-6")
    ap.add_argument("--mc-n", type=int, default=8)
    ap.add_argument("--mc-rollout-check", default=None, choices=["rules"],
                    help="mc counts a rollout as a success only if its own arithmetic claims hold")
    ap.add_argument("--mc-confirm", action="store_true",
                    help="mc refutes a dead end when the next prefix is recoverable (one more probe)")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--soft", action="store_true", help="train on the MC values (soft) instead of verdicts")
    ap.add_argument("--max-tokens", type=int, default=160, help="per sampled solution / rollout (arith needs < 120)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/distill")
    ap.add_argument("--lr", type=float, default=TrainOptions.lr)
    ap.add_argument("--ship", action="store_true")
    ap.add_argument("--head", default="linear", choices=["linear", "policy", "logprobs"],
                    help="policy: an MLP over the separator state and the policy's own token log-probs; "
                         "logprobs: that MLP over the log-prob features alone")
    ap.add_argument("--head-width", type=int, default=64)
    ap.add_argument("--freeze-backbone", action="store_true", help="train the head only")
    ap.add_argument("--policy-template", action="store_true",
                    help="lay the task out as the policy's prompt (Problem: ... Solution:) before the steps")
    ap.add_argument("--error-weight", type=float, default=1.0, help="loss weight of incorrect targets")
    ap.add_argument("--finetune-epochs", type=int, default=0,
                    help="with --freeze-backbone: then train backbone and head together this many epochs")
    ap.add_argument("--finetune-lr", type=float, default=TrainOptions.finetune_lr)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--score-batch", type=int, default=64, help="trajectories per StepRM forward when grading")
    ap.add_argument("--side-by-side", type=int, default=0,
                    help="also time both graders on this many test trajectories back to back (wall seconds)")
    ap.add_argument("--cost-only", action="store_true",
                    help="only the side-by-side timing, with the StepRM already in --out/steprm")
    ap.add_argument("--data", type=Path, default=None,
                    help="cache of the sampled + mc-graded splits (test.jsonl, train-000.jsonl, ... of 250): "
                         "parts are made when absent, reused when present")
    ap.add_argument("--data-only", action="store_true", help="make the --data parts (see --parts) and stop")
    ap.add_argument("--parts", default="", help="with --data-only: which parts to make (test,train-000,...)")
    ap.add_argument("--extra-data", type=Path, action="append", default=[],
                    help="another finished --data directory (e.g. other ops): its train parts join the train "
                         "split, its test split is evaluated and reported on its own (repeatable)")
    ap.add_argument("--base", type=Path, default=None,
                    help="the StepRM's backbone (a from_pretrained directory; default: --policy)")
    args = ap.parse_args()
    lo, _, hi = args.ops.partition("-")
    knobs = {"ops": (int(lo), int(hi or lo))}
    args.out.mkdir(parents=True, exist_ok=True)
    world = get_world("arith")
    backend = TransformersBackend(args.policy)
    stages = []

    if args.data is None:
        t0 = time.perf_counter()
        tasks = world.sample_tasks(args.train + args.test, args.seed, **knobs)
        graded = _sample_and_grade(world, backend, tasks, args, stages)
        train, test = graded[: args.train], graded[args.train :]
    else:
        train, test = _cached_splits(world, backend, args, stages)
        if args.data_only:
            print(json.dumps({"data": str(args.data), "train": len(train), "test": len(test)}))
            return
    extra_tests = {}
    for d in args.extra_data:
        more, extra_tests[str(d)] = _finished_splits(d, _mc_suffix(args))
        train += more

    if args.cost_only:
        print(json.dumps({"side_by_side": _side_by_side(world, backend, test, args.out / "steprm", args)}, indent=2))
        return

    # The StepRM never sees the truth: train on copies without it.
    blind = []
    for t in train:
        d = t.to_dict()
        for s in d["steps"]:
            s.get("labels", {}).pop("truth", None)
        blind.append(type(t).from_dict(d))
    t0 = time.perf_counter()
    template = world.prompt(Task("", "{task}", "", {})) if args.policy_template else DEFAULT_TEMPLATE
    options = TrainOptions(epochs=args.epochs, lr=args.lr, seed=args.seed, batch_size=args.batch_size,
                           error_weight=args.error_weight, finetune_epochs=args.finetune_epochs,
                           finetune_lr=args.finetune_lr)
    model = train_prm(blind, base=args.base or args.policy, out=args.out / "steprm", label="mc", soft=args.soft,
                      template=template, head=args.head, head_width=args.head_width,
                      freeze_backbone=args.freeze_backbone, options=options, device="cpu", progress=True,
                      source=f"mc{_mc_suffix(args)} labels of {len(blind)} policy samples")
    stages.append({"name": "train StepRM", "seconds": round(time.perf_counter() - t0, 1),
                   "examples": model.config.training["examples"]})

    t0 = time.perf_counter()
    prm = PRMGrader(args.out / "steprm", device="cpu", batch_size=args.score_batch)
    list(prm.grade([type(t).from_dict(t.to_dict()) for t in test[: args.score_batch]]))  # warm-up, not timed
    test = list(prm.grade(test))
    stages.append({"name": "grade prm", "seconds": round(time.perf_counter() - t0, 1), "trajectories": len(test)})

    evals = {name: evaluate(test, name, "truth") for name in ("mc", "prm")}
    write_trajectories(test, args.out / "graded.jsonl")
    (args.out / "eval.json").write_text(json.dumps(evals, indent=2) + "\n")
    (args.out / "summary.json").write_text(json.dumps({"stages": stages}, indent=2) + "\n")
    f1 = {k: v["processbench"]["average_f1"] for k, v in evals.items()}
    extra_f1 = {}
    for name, more in extra_tests.items():
        more = list(prm.grade(more))
        extra_f1[name] = {"trajectories": len(more), **{
            k: evaluate(more, k, "truth")["processbench"]["average_f1"] for k in ("mc", "prm")}}
    cost = {k: _cost(v) for k, v in evals.items()}
    result = {
        "benchmark": "steprm_distill",
        "world": "arith",
        "knobs": {"ops": list(knobs["ops"])},
        "train_trajectories": len(train),
        "test_trajectories": len(test),
        "test_final_answer_accuracy": sum(bool(t.outcome.correct) for t in test) / len(test),
        "mc": {"n": args.mc_n, "mode": "first-error", "rollout_check": args.mc_rollout_check,
               "confirm": args.mc_confirm, "f1_vs_truth": f1["mc"], "cost_per_trajectory": cost["mc"]},
        "prm": {"trained_on": "mc", "soft": args.soft, "threshold": model.config.threshold, "head": args.head,
                "freeze_backbone": args.freeze_backbone, "template": template, "epochs": args.epochs,
                "lr": args.lr, "error_weight": args.error_weight,
                "finetune_epochs": args.finetune_epochs, "finetune_lr": args.finetune_lr,
                "score_batch": args.score_batch,
                "dev_f1_vs_mc": model.config.training.get("dev_f1_vs_label"),
                "f1_vs_truth": f1["prm"], "cost_per_trajectory": cost["prm"]},
        "extra_data": {"train_from": [str(d) for d in args.extra_data], "f1_vs_truth_on_their_test": extra_f1},
        "cost_ratio_calls": cost["mc"]["calls"] / max(cost["prm"]["calls"], 1e-9),
        "cost_ratio_tokens": cost["mc"]["tokens"] / max(cost["prm"]["tokens"], 1e-9),
        "cost_ratio_seconds": cost["mc"]["seconds"] / max(cost["prm"]["seconds"], 1e-9),
        "stages": stages,
    }
    result["targets_met"] = {"prm_f1>=0.85": f1["prm"] >= 0.85,
                             **{f"cost_ratio>=100 ({k})": result[f"cost_ratio_{k}"] >= 100
                                for k in ("calls", "tokens", "seconds")}}
    if args.side_by_side:
        result["side_by_side"] = _side_by_side(world, backend, test, args.out / "steprm", args)
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
