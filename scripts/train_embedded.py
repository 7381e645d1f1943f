"""Train the embedded policy and verifier (CPU only, reproducible from a seed).

    python scripts/train_embedded.py --seed 0 --policy-minutes 28 --verifier-minutes 10

(a) The policy learns ONLY correct reference solutions of both worlds (arith text solutions
    and toolcalc episodes), with the loss on what the policy writes (solution lines, action
    lines), so every error it makes later is its own.
(b) The verifier learns, from synthetic correct and corrupted arith solutions (every error
    kind the checker knows), to answer the number of the first wrong step or ``none``.

A ``--*-minutes`` budget is turned into a fixed step count after timing the first steps; the
count is saved in ``train_config.json`` beside the weights, and ``--policy-steps`` /
``--verifier-steps`` reproduce a run exactly from its seed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.embedded._formats import VERIFIER_FORMAT, parse_verdict, verifier_prompt, verifier_reply  # noqa: E402
from stepsieve.embedded._tokenizer import build_char_tokenizer  # noqa: E402
from stepsieve.worlds.arith import ERROR_KINDS, ArithWorld  # noqa: E402
from stepsieve.worlds.toolcalc import ToolCalcWorld  # noqa: E402

ARITH, TOOLCALC = ArithWorld(), ToolCalcWorld()
MAX_POS = 1024


# ---- data ---------------------------------------------------------------------------------


def policy_example(rng: random.Random, knobs: dict) -> list[tuple[str, bool]]:
    """One reference episode as (text, trained-on) segments."""
    task = ARITH.sample_tasks(1, rng.randrange(2**62), **knobs)[0]
    if rng.random() < 0.8:  # arith is the target; toolcalc shares its skills
        return [(ARITH.prompt(task), False), ("".join(s + "\n" for s in ARITH.reference(task)), True)]
    acts = TOOLCALC.reference(task)
    obs = TOOLCALC.replay(task, acts)
    segs: list[tuple[str, bool]] = [(TOOLCALC.prompt(task), False)]
    for a, o in zip(acts, obs):
        segs.append((f"> {a}\n", True))
        if a.startswith("calculator"):
            segs.append((f"< {o}\n", False))
    return segs


def _corrupt(rng: random.Random, task, kind: str, pos: int) -> list[str]:
    """A solution that goes wrong at step ``pos`` with an error of ``kind``, then carries on
    consistently from its own (wrong) value, as a real model would."""
    ops = [(o, int(b)) for o, b in task.data["ops"]]
    n = len(ops)
    steps, v = [], int(task.data["start"])

    def apply(a, op, b):
        r = {"+": a + b, "-": a - b, "*": a * b, "/": Fraction(a, b) if b else Fraction(0)}[op]
        return int(r)

    i = 0
    while i < n:
        op, b = ops[i]
        if i == pos and kind not in ("wrong_answer", "extra_step"):
            if kind == "arithmetic":
                c = apply(v, op, b) + rng.choice([-10, -2, -1, 1, 2, 10])
                steps.append(f"{v} {op} {b} = {c}")
            elif kind == "wrong_operand":
                b2 = b + rng.choice([-3, -1, 1, 2, 5]) if b > 3 else b + rng.randint(1, 4)
                c = apply(v, op, b2)
                steps.append(f"{v} {op} {b2} = {c}")
            elif kind == "wrong_operation":
                op2 = rng.choice([o for o in "+-*" if o != op])
                c = apply(v, op2, b)
                steps.append(f"{v} {op2} {b} = {c}")
            elif kind == "skipped_operation" and i + 1 < n:
                op2, b2 = ops[i + 1]
                c = apply(v, op2, b2)
                steps.append(f"{v} {op2} {b2} = {c}")
                i += 1  # the skipped op is gone; carry on after the one applied
            elif kind == "repeated_operation" and i > 0:
                op2, b2 = ops[i - 1]
                c = apply(v, op2, b2)
                steps.append(f"{v} {op2} {b2} = {c}")
                i -= 1  # the current op comes next
            elif kind == "wrong_carry":
                a2 = v + rng.choice([-5, -1, 1, 3, 10])
                c = apply(a2, op, b)
                steps.append(f"{a2} {op} {b} = {c}")
            elif kind == "early_answer":
                steps.append(f"Answer: {v}")
                return steps
            else:  # kinds that need a neighbour fall back to arithmetic
                c = apply(v, op, b) + rng.choice([-1, 1])
                steps.append(f"{v} {op} {b} = {c}")
            v = c
            pos = -2  # one corruption only
            i += 1
            continue
        c = apply(v, op, b)
        steps.append(f"{v} {op} {b} = {c}")
        v = c
        i += 1
    if kind == "wrong_answer" and pos >= 0:
        v = v + rng.choice([-2, -1, 1, 3])
    steps.append(f"Answer: {v}")
    if kind == "extra_step" and pos >= 0:
        steps.append(f"{v} + {rng.randint(2, 9)} = {v + rng.randint(2, 9)}")
    return steps


VERIFIER_KINDS = [k for k in ERROR_KINDS if k not in ("unparseable",)]


def synthetic_solution(rng: random.Random, knobs: dict):
    """(task, steps): the reference (40%) or one corruption of a random kind at a random step."""
    task = ARITH.sample_tasks(1, rng.randrange(2**62), **knobs)[0]
    n = len(task.data["ops"])
    if rng.random() < 0.4:
        return task, ARITH.reference(task)
    return task, _corrupt(rng, task, rng.choice(VERIFIER_KINDS), rng.randrange(n))


def verifier_segments(task, steps: list[str]) -> list[tuple[str, bool]]:
    """One training example; the checker, not the corruption, is the label."""
    fe = ARITH.first_error(task, steps)
    return [(verifier_prompt(task.problem, steps), False),
            (verifier_reply(fe, len(steps), ARITH.reference(task)), True)]


def verifier_example(rng: random.Random, knobs: dict) -> list[tuple[str, bool]]:
    """Synthetic data only (the first verifier's recipe)."""
    return verifier_segments(*synthetic_solution(rng, knobs))


class VerifierMix:
    """Balanced examples: a ``policy_share`` of the policy's own solutions (from
    ``sample_policy_solutions``), half with an error and half without, the rest synthetic
    solutions, half corrupted and half not. Labels always come from the exact checker."""

    def __init__(self, path: Path, policy_share: float = 0.6) -> None:
        self.policy_share = policy_share
        self.wrong, self.right = [], []
        tasks: dict[tuple, list] = {}
        for line in path.open():
            r = json.loads(line)
            key = (r["seed"], tuple(r["ops"]))
            if key not in tasks:
                tasks[key] = ARITH.sample_tasks(64, r["seed"], ops=tuple(r["ops"]))
            task = tasks[key][r["i"]]
            steps = r["steps"]
            if not steps:
                continue
            (self.wrong if ARITH.first_error(task, steps) >= 0 else self.right).append((task, steps))
        print(f"[verifier] policy samples: {len(self.wrong)} with an error, {len(self.right)} without", flush=True)

    def __call__(self, rng: random.Random, knobs: dict) -> list[tuple[str, bool]]:
        if rng.random() < self.policy_share:
            return verifier_segments(*rng.choice(self.wrong if rng.random() < 0.5 else self.right))
        while True:
            task, steps = synthetic_solution(rng, knobs)
            if (ARITH.first_error(task, steps) >= 0) == (rng.random() < 0.5) or rng.random() < 0.3:
                return verifier_segments(task, steps)


# Policy samples for the verifier: the errors it has to find are the policy's own, and they do
# not look like synthetic corruptions (mostly near-miss arithmetic). Tasks come from seeds
# VERIFIER_SEED_BASE + b, disjoint from the evaluation seeds (benchmarks/grading.py: 0-9,
# benchmarks/judge.py: 500000+, eval_saved: 12345).
VERIFIER_SEED_BASE = 1_000_000


def sample_policy_solutions(policy_dir: Path, n: int, out: Path, ops=(3, 7), batch: int = 64) -> None:
    """``n`` policy solutions at temperature 1.0 (one per task), appended to ``out`` as JSON
    lines ``{"seed", "i", "steps"}``; re-running continues where a killed run stopped."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(policy_dir).eval(), AutoTokenizer.from_pretrained(policy_dir)
    done = sum(1 for _ in out.open()) if out.is_file() else 0
    t0 = time.time()
    with out.open("a") as f:
        for b in range(done // batch, (n + batch - 1) // batch):
            seed = VERIFIER_SEED_BASE + b
            tasks = ARITH.sample_tasks(batch, seed, ops=ops)
            texts = generate(model, tok, [ARITH.prompt(t) for t in tasks], 160, 1.0, seed)
            for i, c in enumerate(texts):
                f.write(json.dumps({"seed": seed, "i": i, "ops": list(ops), "steps": ARITH.split_steps(c)}) + "\n")
            f.flush()
            print(f"[samples] {(b + 1) * batch}/{n} {time.time() - t0:.0f}s", flush=True)


def encode_batch(tok, examples: list[list[tuple[str, bool]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and labels (-100 where not trained on), with an eos trained on."""
    rows, labs = [], []
    for segs in examples:
        ids, lab = [], []
        for text, train in segs:
            t = tok(text, add_special_tokens=False)["input_ids"]
            ids += t
            lab += t if train else [-100] * len(t)
        ids.append(tok.eos_token_id)
        lab.append(tok.eos_token_id)
        rows.append(ids[:MAX_POS])
        labs.append(lab[:MAX_POS])
    L = max(map(len, rows))
    x = torch.full((len(rows), L), tok.pad_token_id, dtype=torch.long)
    y = torch.full((len(rows), L), -100, dtype=torch.long)
    for i, (r, lb) in enumerate(zip(rows, labs)):
        x[i, : len(r)] = torch.tensor(r)
        y[i, : len(lb)] = torch.tensor(lb)
    return x, y


# ---- model --------------------------------------------------------------------------------


def marked_loss(logits: torch.Tensor, y: torch.Tensor, tok, weight: float) -> torch.Tensor:
    """Next-token loss with the verifier's per-step marks weighted up: a ``+``/``-`` that ends a
    re-derived line is the one decision per step, and it drowns among the copied characters
    (a ``-`` ``weight`` times, once per wrong solution, weighted up by a further 3)."""
    plus, minus, nl = (tok.convert_tokens_to_ids(c) for c in ("+", "-", "\n"))
    tgt = y[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), tgt, ignore_index=-100, reduction="none")
    nxt = torch.cat([tgt[:, 1:], torch.full_like(tgt[:, :1], -100)], dim=1)
    mark = ((tgt == plus) | (tgt == minus)) & (nxt == nl)
    w = (tgt != -100).float() + mark.float() * (weight - 1) + (mark & (tgt == minus)).float() * weight * 2
    return (ce * w).sum() / w.sum()


def build_model(tok, width: int, layers: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=width,
        intermediate_size=width * 3,
        num_hidden_layers=layers,
        num_attention_heads=width // 32,  # head_dim 32: what the CI model server supports
        num_key_value_heads=width // 32,
        head_dim=32,
        max_position_embeddings=MAX_POS,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(cfg)


def train(name, make_example, knobs, args, width, layers, minutes, steps, lr, out: Path, evaluate=None):
    tok = build_char_tokenizer()
    model = build_model(tok, width, layers, args.seed)
    previous = None
    if name == "verifier" and args.verifier_init == "policy" and not args.resume:
        # Start from the policy: it already reads the problems and knows the arithmetic the
        # verifier has to check; only the verdict format is new.
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out.parent / "policy" / "model.safetensors")), strict=False)
        model.tie_weights()
        print(f"[{name}] initialised from {out.parent / 'policy'}", flush=True)
    if args.resume and (out / "model.safetensors").is_file():
        # Continue a saved run (a second phase, usually at a lower --lr); the data stream
        # is re-seeded with the phase so it does not repeat the first phase's examples.
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / "model.safetensors")), strict=False)
        model.tie_weights()
        previous = json.loads((out / "train_config.json").read_text())
        print(f"[{name}] resumed from {out} ({previous.get('steps')} steps)", flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[{name}] {n_params / 1e6:.2f}M parameters", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.01)
    phase = 1 + len((previous or {}).get("phases", [previous] if previous else []))
    rng = random.Random(f"{name}:{args.seed}" + (f":phase{phase}" if phase > 1 else ""))
    warmup = 50
    total = steps  # None until timed
    t0 = time.time()
    step, ema = 0, None
    pending: list = []
    model.train()
    stop_at = getattr(args, "stop_at_step", None) if name == "verifier" else None
    hard_stop = getattr(args, "hard_stop_minutes", None) if name == "verifier" else None
    while (total is None or step < total) and (stop_at is None or step < stop_at):
        if hard_stop is not None and time.time() - t0 > hard_stop * 60:
            print(f"[{name}] hard stop after {hard_stop} min at step {step} of {total}", flush=True)
            break
        if total is None and step == 30:
            per = (time.time() - t0) / 30
            total = max(60, int(minutes * 60 / per))
            print(f"[{name}] {per:.2f}s/step -> {total} steps for {minutes} min", flush=True)
        frac = step / total if total else 0.0
        cur_lr = lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur_lr
        if not pending:  # length-bucketed batches: less padding, same examples
            pool = [make_example(rng, knobs) for _ in range(args.batch * 8)]
            pool.sort(key=lambda segs: sum(len(t) for t, _ in segs))
            pending = [pool[i:i + args.batch] for i in range(0, len(pool), args.batch)]
            rng.shuffle(pending)
        x, y = encode_batch(tok, pending.pop())
        mark_w = getattr(args, "mark_weight", 1.0) if name == "verifier" else 1.0
        if mark_w == 1.0:
            loss = model(input_ids=x, labels=y).loss
        else:
            loss = marked_loss(model(input_ids=x).logits, y, tok, mark_w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        step += 1
        if step % 100 == 0:
            print(f"[{name}] step {step}/{total} loss {ema:.4f} lr {cur_lr:.2e} {time.time() - t0:.0f}s", flush=True)
        if evaluate is not None and args.eval_every and step % args.eval_every == 0:
            model.eval()
            print(f"[{name}] step {step} eval {json.dumps(evaluate(model, tok, args.eval_n))}", flush=True)
            model.train()
    secs = time.time() - t0
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    if name == "verifier":
        model.config.verifier_format = VERIFIER_FORMAT  # the judge reads it to build prompts
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    meta = {"seed": args.seed, "steps": step, "batch": args.batch, "lr": lr, "width": width, "layers": layers,
            "params": n_params, "train_seconds": round(secs), "knobs": knobs, "threads": args.threads,
            "final_loss": ema, "init": getattr(args, "verifier_init", "random") if name == "verifier" else "random"}
    if name == "verifier":
        # a run cut by --hard-stop-minutes is reproduced by --verifier-steps SCHEDULE --stop-at-step STEPS
        meta |= {"mark_weight": getattr(args, "mark_weight", 1.0), "schedule_steps": total, "format": VERIFIER_FORMAT,
                 "policy_samples": str(args.verifier_data) if args.verifier_data else None,
                 "policy_share": args.verifier_policy_share if args.verifier_data else 0.0,
                 "policy_sample_seeds": f"{VERIFIER_SEED_BASE}+" if args.verifier_data else None}
    if previous is not None:
        phases = previous.get("phases", [previous])
        meta = {**meta, "phases": [*phases, dict(meta)], "steps": sum(p["steps"] for p in phases) + step,
                "train_seconds": sum(p["train_seconds"] for p in phases) + round(secs)}
    (out / "train_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[{name}] saved to {out} after {step} steps, {secs / 60:.1f} min", flush=True)
    return model, tok


# ---- evaluation -----------------------------------------------------------------------------


@torch.no_grad()
def generate(model, tok, prompts: list[str], max_new: int, temperature: float, seed: int) -> list[str]:
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(seed)
    kw = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature > 0
          else {"do_sample": False})
    out = model.generate(**enc, max_new_tokens=max_new, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, **kw)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def eval_policy(model, tok, n: int, seed: int = 12345, temperature: float = 1.0) -> dict:
    tasks = ARITH.sample_tasks(n, seed, ops=(4, 6))
    texts = []
    for i in range(0, n, 50):
        texts += generate(model, tok, [ARITH.prompt(t) for t in tasks[i:i + 50]], 160, temperature, seed + i)
    correct, hist = 0, {}
    for t, c in zip(tasks, texts):
        steps = ARITH.split_steps(c)
        correct += ARITH.check_answer(t, ARITH.parse_answer(c))
        fe = ARITH.first_error(t, steps)
        hist[fe] = hist.get(fe, 0) + 1
    return {"n": n, "T": temperature, "accuracy": correct / n, "first_error_hist": dict(sorted(hist.items()))}


def eval_verifier(model, tok, n: int, seed: int = 999) -> dict:
    rng = random.Random(f"verifier-eval:{seed}")
    sols = [synthetic_solution(rng, {"ops": (2, 8)}) for _ in range(n)]
    golds = [ARITH.first_error(t, s) for t, s in sols]
    preds = judge_with(model, tok, [(t.problem, s) for t, s in sols])
    pos = [(p, g) for p, g in zip(preds, golds) if g == -1]
    neg = [(p, g) for p, g in zip(preds, golds) if g >= 0]
    return {"n": n, "exact": sum(p == g for p, g in zip(preds, golds)) / n,
            "none_recall": sum(p == -1 for p, _ in pos) / max(1, len(pos)),
            "erroneous_exact": sum(p == g for p, g in neg) / max(1, len(neg))}


def judge_with(model, tok, items: list[tuple[str, list[str]]]) -> list[int | None]:
    """Greedy verdicts (0-based first error, -1 none, None unparseable) in the model's format."""
    fmt = getattr(model.config, "verifier_format", 1)  # absent: the first verifier's format
    outs = []
    for i in range(0, len(items), 50):
        outs += generate(model, tok, [verifier_prompt(p, s, fmt) for p, s in items[i:i + 50]],
                         16 if fmt == 1 else 200, 0.0, 0)
    return [parse_verdict(o, len(s), fmt) for o, (_, s) in zip(outs, items)]


def eval_saved(args) -> dict:
    """Measure the saved models (the figures in docs/embedded.md): policy accuracy, first-error
    histogram and error kinds at T=1.0 on 4-6-op arith; verifier exact first-error accuracy on
    held-out synthetic solutions and on the policy's own samples (real errors)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def load(d):
        return AutoModelForCausalLM.from_pretrained(d).eval(), AutoTokenizer.from_pretrained(d)

    pm, pt = load(args.out / "policy")
    tasks = ARITH.sample_tasks(args.eval_n, 12345, ops=(4, 6))
    texts = []
    for i in range(0, len(tasks), 50):
        texts += generate(pm, pt, [ARITH.prompt(t) for t in tasks[i:i + 50]], 160, 1.0, 12345 + i)
    kinds, hist, correct, sols = {}, {}, 0, []
    for t, c in zip(tasks, texts):
        steps = ARITH.split_steps(c)
        d = ARITH.diagnose(t, steps)
        correct += ARITH.check_answer(t, ARITH.parse_answer(c))
        key = "none" if d.index < 0 else str(d.index)
        hist[key] = hist.get(key, 0) + 1
        if d.kind:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        sols.append((t, steps, d.index))
    hist = {k: hist[k] for k in sorted(hist, key=lambda k: (k == "none", int(k) if k != "none" else 0))}
    report = {"policy": {"n": len(tasks), "ops": "4-6", "T": 1.0, "accuracy": correct / len(tasks),
                         "with_error": sum(1 for *_, fe in sols if fe >= 0) / len(sols),
                         "first_error_hist": hist, "error_kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1]))}}
    vm, vt = load(args.out / "verifier")
    report["verifier_synthetic"] = eval_verifier(vm, vt, args.eval_n)
    preds = judge_with(vm, vt, [(t.problem, steps) for t, steps, _ in sols])
    golds = [fe for *_, fe in sols]
    err = [(p, g) for p, g in zip(preds, golds) if g >= 0]
    ok = [(p, g) for p, g in zip(preds, golds) if g < 0]
    report["verifier_on_policy_samples"] = {
        "n": len(golds),
        "exact": sum(p == g for p, g in zip(preds, golds)) / len(golds),
        "erroneous_exact": sum(p == g for p, g in err) / max(1, len(err)),
        "correct_says_none": sum(p == -1 for p, _ in ok) / max(1, len(ok)),
        "unparseable": sum(p is None for p in preds) / len(preds),
    }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "stepsieve" / "embedded")
    ap.add_argument("--which", choices=["both", "policy", "verifier"], default="both")
    ap.add_argument("--policy-minutes", type=float, default=34.0)
    ap.add_argument("--verifier-minutes", type=float, default=10.0)
    ap.add_argument("--policy-steps", type=int, default=None, help="exact step count (overrides minutes)")
    ap.add_argument("--verifier-steps", type=int, default=None)
    ap.add_argument("--policy-width", type=int, default=128)
    ap.add_argument("--policy-layers", type=int, default=4)
    ap.add_argument("--verifier-width", type=int, default=128)
    ap.add_argument("--verifier-layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verifier-init", choices=["policy", "random"], default="policy",
                    help="start the verifier from the trained policy's weights (same architecture)")
    ap.add_argument("--resume", action="store_true", help="continue the saved model(s) in --out for another phase")
    ap.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps (0: only at the end)")
    ap.add_argument("--eval-n", type=int, default=200)
    ap.add_argument("--eval-only", action="store_true", help="only measure the saved models (JSON)")
    ap.add_argument("--sample-policy", type=Path, default=None, metavar="FILE",
                    help="only write --policy-samples policy solutions (verifier training data) to FILE")
    ap.add_argument("--policy-samples", type=int, default=4096)
    ap.add_argument("--verifier-data", type=Path, default=None, metavar="FILE",
                    help="policy solutions from --sample-policy to mix into the verifier's training data")
    ap.add_argument("--verifier-policy-share", type=float, default=0.6)
    ap.add_argument("--hard-stop-minutes", type=float, default=None,
                    help="end verifier training after this wall time whatever the schedule (shared machines)")
    ap.add_argument("--mark-weight", type=float, default=1.0,
                    help="verifier loss weight of the per-step +/- marks (a '-' gets 3x that)")
    ap.add_argument("--stop-at-step", type=int, default=None, help="end verifier training at this step")
    ap.add_argument("--verifier-lr", type=float, default=None, help="verifier learning rate (default --lr)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.sample_policy is not None:
        sample_policy_solutions(args.out / "policy", args.policy_samples, args.sample_policy)
        return
    if args.eval_only:
        print(json.dumps(eval_saved(args), indent=1))
        return
    knobs = {"ops": (2, 8)}  # the world's defaults for everything else (see ArithKnobs)
    report = {}
    if args.which in ("both", "policy"):
        m, t = train("policy", policy_example, knobs, args, args.policy_width, args.policy_layers,
                     args.policy_minutes, args.policy_steps, args.lr, args.out / "policy", eval_policy)
        report["policy"] = eval_policy(m, t, args.eval_n)
        print(f"[policy] final eval {json.dumps(report['policy'])}", flush=True)
    if args.which in ("both", "verifier"):
        make = VerifierMix(args.verifier_data, args.verifier_policy_share) if args.verifier_data else verifier_example
        m, t = train("verifier", make, knobs, args, args.verifier_width, args.verifier_layers,
                     args.verifier_minutes, args.verifier_steps, args.verifier_lr or args.lr, args.out / "verifier",
                     eval_verifier)
        report["verifier"] = eval_verifier(m, t, args.eval_n)
        print(f"[verifier] final eval {json.dumps(report['verifier'])}", flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
