"""Train a tiny causal LM on the POLICY'S OWN SAMPLES, as the backbone of a cheap StepRM.

    python scripts/train_small_base.py --out runs/small-base --tasks 1500 --per-task 2 \
        --width 32 --layers 2 --heads 2 --intermediate 64 --epochs 6

Why: the StepRM's ``logprobs`` head reads how surprised its backbone is by each step's tokens
(src/stepsieve/prm/_features.py). With the policy (0.87M parameters) as the backbone the
StepRM costs as much per token as the mc grader's rollouts; a backbone ~30-50x smaller that
has learned the policy's next-token distribution keeps those features at a fraction of the
compute. No truth is used anywhere:

1. ``--tasks`` arith tasks (``--ops``, default 3-8) from seeds >= 2,000,000, which no test,
   train or search split uses, are solved ``--per-task`` times by the policy at temperature 1
   (``stepsieve.sampling.rollout``: text only, no truth labels are computed). Cached as JSONL
   in ``--samples`` (resumable; a re-run reuses it).
2. The policy's next-token distribution at every step token is read in one pass per sample.
3. The small Llama (the policy's character tokenizer, tied embeddings) is trained to match
   it (KL(policy || small) on step tokens, plus ``--ce`` x next-token loss on the sampled
   token), reading the samples laid out exactly as the StepRM will (``stepsieve.prm.render``
   with ``--template``), so its log-probabilities are the features the head is trained on.

Writes a ``from_pretrained`` directory (``config.json``, ``model.safetensors``, the policy's
tokenizer files, ``train_config.json``) and prints the run's JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.prm import render_many  # noqa: E402
from stepsieve.prm._render import DEFAULT_TEMPLATE, separator_token_id  # noqa: E402
from stepsieve.trajectory import Step  # noqa: E402
from stepsieve.worlds import Task, get_world  # noqa: E402

SEED_BASE = 2_000_000  # task seeds from here on: disjoint from every test / train / search split
CHUNK = 64  # tasks per sampling call (and per cached line group)


@dataclass(frozen=True)
class SmallConfig:
    """Shape of the small backbone (a ``LlamaForCausalLM`` with tied embeddings)."""

    width: int = 32  # hidden size
    layers: int = 2  # decoder layers
    heads: int = 2  # attention heads (head_dim = width // heads)
    intermediate: int = 64  # MLP inner size (SwiGLU: 3 matrices of width x intermediate)


def _stderr():
    from rich.console import Console

    return Console(stderr=True)  # stdout carries the JSON summary only


def _progress():
    from rich.progress import Progress

    return Progress(console=_stderr())


# ---- 1. samples -----------------------------------------------------------------------------


def sample_corpus(policy: Path, path: Path, tasks: int, per_task: int, ops: tuple[int, int], seed: int) -> list[dict]:
    """``tasks`` x ``per_task`` policy solutions as ``{"task", "steps"}`` rows, cached in ``path``."""
    from stepsieve.backends.transformers import TransformersBackend
    from stepsieve.sampling import rollout

    world = get_world("arith")
    rows = [json.loads(ln) for ln in path.open()] if path.is_file() else []
    done_chunks = len({r["chunk"] for r in rows})
    n_chunks = (tasks + CHUNK - 1) // CHUNK
    if done_chunks < n_chunks:
        backend = TransformersBackend(policy, max_batch_rows=128)
        with path.open("a") as f, _progress() as bar:
            job = bar.add_task("sample policy", total=n_chunks, completed=done_chunks)
            for c in range(done_chunks, n_chunks):
                s = seed + c  # one task seed per chunk: a larger --tasks extends, never reshuffles
                chunk = world.sample_tasks(min(CHUNK, tasks - c * CHUNK), s, ops=ops)
                outs = rollout(world, backend, [(t, ()) for t in chunk], n=per_task, seed=s,
                               temperature=1.0, max_tokens=160)
                new = [{"chunk": c, "task_seed": s, "task": t.problem, "steps": steps}
                       for t, row in zip(chunk, outs) for steps, _ in row if steps]
                f.write("".join(json.dumps(r) + "\n" for r in new))
                f.flush()
                rows += new
                bar.advance(job)
    return [r for r in rows if r["chunk"] < n_chunks]


# ---- 2. the policy's next-token distribution --------------------------------------------------


def encode(tok, rows: list[dict], template: str) -> list[tuple[list[int], int]]:
    """``(ids, steps_start)`` of every sample, rendered exactly as a StepRM renders it."""
    sep = separator_token_id(tok, "\n")
    items = [(r["task"], [Step(i, s) for i, s in enumerate(r["steps"])]) for r in rows]
    return [(r.input_ids, r.steps_start) for r in render_many(tok, items, sep, template=template)]


@torch.inference_mode()
def teacher_targets(policy, policy_seqs: list[tuple[list[int], int]], batch: int = 32) -> list[torch.Tensor]:
    """Per sample: the policy's log-probs ``[n_step_tokens, vocab]`` (fp16) for each step token."""
    from rich.progress import track

    out: list[torch.Tensor] = []
    for k in track(range(0, len(policy_seqs), batch), description="policy log-probs", console=_stderr()):
        part = policy_seqs[k : k + batch]
        width = max(len(ids) for ids, _ in part)
        x = torch.zeros((len(part), width), dtype=torch.long)
        m = torch.zeros_like(x)
        for i, (ids, _) in enumerate(part):
            x[i, : len(ids)] = torch.tensor(ids)
            m[i, : len(ids)] = 1
        logp = torch.log_softmax(policy(input_ids=x, attention_mask=m).logits.float(), dim=-1)
        for i, (ids, start) in enumerate(part):
            out.append(logp[i, start - 1 : len(ids) - 1].to(torch.float16).clone())  # predicts ids[start:]
    return out


def cached_targets(policy_dir: Path, samples: Path, tok, rows: list[dict], template: str) -> list[torch.Tensor]:
    """:func:`teacher_targets`, cached beside the samples (safetensors; keyed by the sample count)."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM

    path = samples.with_name(f"{samples.stem}.policy-logprobs-{len(rows)}.safetensors")
    if path.is_file():
        flat = load_file(str(path))
        return list(torch.split(flat["logprobs"], flat["lengths"].tolist()))
    policy = AutoModelForCausalLM.from_pretrained(str(policy_dir), dtype=torch.float32).eval()
    targets = teacher_targets(policy, encode(tok, rows, template))
    save_file({"logprobs": torch.cat(targets), "lengths": torch.tensor([len(t) for t in targets])}, str(path))
    return targets


# ---- 3. the small model ---------------------------------------------------------------------------


def build_small(tok, cfg: SmallConfig, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    lcfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=cfg.width, intermediate_size=cfg.intermediate,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        head_dim=cfg.width // cfg.heads, max_position_embeddings=1024, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(lcfg)


def non_embedding_params(model) -> int:
    """Parameters that every token's forward pass multiplies through (the tied embedding excluded)."""
    emb = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not emb)


def batches(seqs: list, size: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches of sample indices (little padding), in a shuffled order."""
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i][0]), rng.random()))
    out = [order[k : k + size] for k in range(0, len(order), size)]
    rng.shuffle(out)
    return out


def batch_loss(model, seqs, targets, idx: list[int], ce_weight: float) -> tuple[torch.Tensor, dict]:
    """KL(policy || small) + ``ce_weight`` x CE on the step tokens of samples ``idx``."""
    width = max(len(seqs[i][0]) for i in idx)
    x = torch.zeros((len(idx), width), dtype=torch.long)
    m = torch.zeros_like(x)
    for r, i in enumerate(idx):
        x[r, : len(seqs[i][0])] = torch.tensor(seqs[i][0])
        m[r, : len(seqs[i][0])] = 1
    logp = torch.log_softmax(model(input_ids=x, attention_mask=m).logits.float(), dim=-1)
    student = torch.cat([logp[r, seqs[i][1] - 1 : len(seqs[i][0]) - 1] for r, i in enumerate(idx)])
    teacher = torch.cat([targets[i] for i in idx]).float()
    gold = torch.cat([torch.tensor(seqs[i][0][seqs[i][1]:]) for i in idx])
    kl = (teacher.exp() * (teacher - student)).sum(-1).mean()
    ce = -student.gather(-1, gold[:, None]).mean()
    agree = (student.argmax(-1) == teacher.argmax(-1)).float().mean()
    return kl + ce_weight * ce, {"kl": kl.item(), "ce": ce.item(), "top1_agree": agree.item(), "tokens": len(gold)}


@torch.no_grad()
def evaluate(model, seqs, targets, idx: list[int], size: int) -> dict:
    model.eval()
    tot = {"kl": 0.0, "ce": 0.0, "top1_agree": 0.0}
    n = 0
    for k in range(0, len(idx), size):
        _, st = batch_loss(model, seqs, targets, idx[k : k + size], 0.0)
        for key in tot:
            tot[key] += st[key] * st["tokens"]
        n += st["tokens"]
    model.train()
    return {k: round(v / max(n, 1), 4) for k, v in tot.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", type=Path, default=ROOT / "src/stepsieve/embedded/policy")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--samples", type=Path, default=None,
                    help="cache of policy samples (default OUT/../small-samples.jsonl)")
    ap.add_argument("--tasks", type=int, default=1500)
    ap.add_argument("--per-task", type=int, default=2)
    ap.add_argument("--ops", default="3-8")
    ap.add_argument("--task-seed", type=int, default=SEED_BASE, help=f">= {SEED_BASE}: disjoint from all splits")
    ap.add_argument("--template", choices=["plain", "policy"], default="plain",
                    help="the StepRM layout the small LM reads: plain '{task}\\n' (fewer tokens) "
                         "or the policy's prompt")
    ap.add_argument("--width", type=int, default=SmallConfig.width)
    ap.add_argument("--layers", type=int, default=SmallConfig.layers)
    ap.add_argument("--heads", type=int, default=SmallConfig.heads)
    ap.add_argument("--intermediate", type=int, default=SmallConfig.intermediate)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--ce", type=float, default=0.0, help="weight of next-token CE on the sampled token")
    ap.add_argument("--eval-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = ap.parse_args()
    if args.task_seed < SEED_BASE:
        sys.exit(f"--task-seed must be >= {SEED_BASE} so the samples never coincide with a test or search task")
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer

    lo, _, hi = args.ops.partition("-")
    ops = (int(lo), int(hi or lo))
    samples_path = args.samples or args.out.parent / "small-samples.jsonl"
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = sample_corpus(args.policy, samples_path, args.tasks, args.per_task, ops, args.task_seed)
    t_sample = time.perf_counter() - t0

    tok = AutoTokenizer.from_pretrained(str(args.policy))
    world = get_world("arith")
    policy_template = world.prompt(Task("", "{task}", "", {}))
    template = policy_template if args.template == "policy" else DEFAULT_TEMPLATE
    t0 = time.perf_counter()
    targets = cached_targets(args.policy, samples_path, tok, rows, policy_template)
    seqs = encode(tok, rows, template)  # same step tokens, maybe another task layout
    t_teacher = time.perf_counter() - t0

    rng = random.Random(args.seed)
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    n_eval = max(1, int(len(idx) * args.eval_fraction))
    held, train_idx = idx[:n_eval], idx[n_eval:]
    cfg = SmallConfig(args.width, args.layers, args.heads, args.intermediate)
    model = build_small(tok, cfg, args.seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    plan = [batches([seqs[i] for i in train_idx], args.batch, rng) for _ in range(args.epochs)]
    plan = [[train_idx[j] for j in b] for ep in plan for b in ep]
    warmup = max(1, len(plan) // 20)
    curve: list[dict] = []
    ema = None
    t0 = time.perf_counter()
    with _progress() as bar:
        job = bar.add_task("train small LM", total=len(plan))
        for step, b in enumerate(plan):
            frac = step / len(plan)
            lr = args.lr * min(1.0, (step + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            loss, st = batch_loss(model, seqs, targets, b, args.ce)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema = st["kl"] if ema is None else 0.95 * ema + 0.05 * st["kl"]
            bar.update(job, advance=1, description=f"train small LM kl {ema:.3f}")
            if (step + 1) % max(1, len(plan) // args.epochs) == 0:
                curve.append({"step": step + 1, "train_kl_ema": round(ema, 4),
                              **evaluate(model, seqs, targets, held, 64)})
    t_train = time.perf_counter() - t0
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out), safe_serialization=True)
    tok.save_pretrained(str(args.out))
    summary = {
        "script": "scripts/train_small_base.py",
        "config": asdict(cfg),
        "params": sum(p.numel() for p in model.parameters()),
        "non_embedding_params": non_embedding_params(model),
        "policy_non_embedding_params": None,
        "samples": {"path": str(samples_path), "rows": len(rows), "tasks": args.tasks, "per_task": args.per_task,
                    "ops": list(ops), "task_seeds": [args.task_seed, args.task_seed + (args.tasks - 1) // CHUNK],
                    "step_tokens": sum(len(t) for t in targets)},
        "template": template,
        "loss": f"KL(policy || small) + {args.ce} x CE, on step tokens",
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed, "steps": len(plan),
        "held_out": {"samples": len(held), **curve[-1]} if curve else {},
        "curve": curve,
        "seconds": {"sample": round(t_sample, 1), "policy_logprobs": round(t_teacher, 1), "train": round(t_train, 1)},
        "threads": torch.get_num_threads(),
    }
    from stepsieve.embedded import load_model

    summary["policy_non_embedding_params"] = non_embedding_params(load_model("policy")[0])
    (args.out / "train_config.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
