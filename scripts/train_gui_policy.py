"""Train the embedded GUI policy (CPU only, reproducible from a seed).

    python scripts/train_gui_policy.py --seed 0 --minutes 15 --threads 1
    python scripts/train_gui_policy.py --seed 0 --steps 600 --threads 1     # exact re-run

The policy is a tiny ``LlamaForCausalLM`` with a word-level tokenizer (numbers are single
tokens, so a coordinate in the accessibility tree and the same coordinate in an action are one
token to copy). It learns ONLY the planner's reference demonstrations of the ``gui`` world:
each example is the prompt of one turn (the task and the current screen's accessibility tree)
and the reference action ``> click(412, 230)``, with the loss on the action line. It never
sees a mistake or a recovery, so the errors it makes at temperature 1 are its own.

A ``--minutes`` budget becomes a fixed step count after timing the first steps; the count is
saved in ``train_config.json`` beside the weights and ``--steps N`` reproduces the run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.embedded._tokenizer import WORD_PATTERN, build_word_tokenizer  # noqa: E402
from stepsieve.worlds.gui import GuiWorld  # noqa: E402
from stepsieve.worlds.gui._tasks import COLORS, KINDS, NUMBER_WORDS, PEOPLE, STREETS, TOGGLES  # noqa: E402

WORLD = GuiWorld()
MAX_POS = 512
TRAIN_SEED_BASE = 100_000  # task seeds of the demonstrations; the benchmark uses 0..99


def vocabulary() -> list[str]:
    """Every letter word the world can write: its word lists plus the words of many screens."""
    text = " ".join([*COLORS, *KINDS, *PEOPLE, *STREETS, *NUMBER_WORDS.values(), *(lab for _, lab in TOGGLES)])
    text += " " + " ".join(w.capitalize() for w in [*COLORS, *KINDS])
    for t in WORLD.sample_tasks(300, seed=TRAIN_SEED_BASE - 1):
        ref = WORLD.reference(t)
        for k in range(len(ref) + 1):
            text += "\n" + WORLD.prompt(t, ref[:k]) + "\n".join(ref)
    for t in WORLD.sample_tasks(60, seed=TRAIN_SEED_BASE - 2, steps=(2, 4)):
        for act in ("click(10, 10)", "keypress(\"ESCAPE\")", "wait()"):
            text += WORLD.prompt(t, [act]) + WORLD.replay(t, ["foo()", "click(999, 1)"])[-1]
    return sorted({m.strip() for m in re.findall(WORD_PATTERN, text) if m.strip().isalpha()})


class Demonstrations:
    """An endless stream of (prompt, action line) pairs from reference plans of fresh tasks."""

    def __init__(self, seed: int, steps: tuple[int, int]) -> None:
        self.seed, self.steps, self.chunk = seed, steps, 0
        self.buf: list[tuple[str, str]] = []
        self.rng = random.Random(f"gui-policy:{seed}")

    def next(self) -> tuple[str, str]:
        if not self.buf:
            tasks = WORLD.sample_tasks(32, seed=TRAIN_SEED_BASE + self.seed * 100_000 + self.chunk, steps=self.steps)
            self.chunk += 1
            for t in tasks:
                ref = WORLD.reference(t)
                self.buf += [(WORLD.prompt(t, ref[:k]), f"> {ref[k]}\n") for k in range(len(ref))]
            self.rng.shuffle(self.buf)
        return self.buf.pop()


def encode_batch(tok, pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and labels (-100 on the prompt and the padding)."""
    rows, labs = [], []
    for prompt, action in pairs:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        a = tok(action, add_special_tokens=False)["input_ids"]
        ids = (p + a)[-MAX_POS:]
        rows.append(ids)
        labs.append(([-100] * len(p) + a)[-MAX_POS:])
    L = max(map(len, rows))
    x = torch.full((len(rows), L), tok.pad_token_id, dtype=torch.long)
    y = torch.full((len(rows), L), -100, dtype=torch.long)
    for i, (r, lb) in enumerate(zip(rows, labs)):
        x[i, : len(r)] = torch.tensor(r)
        y[i, : len(lb)] = torch.tensor(lb)
    return x, y


def build_model(tok, width: int, layers: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=width, intermediate_size=width * 3, num_hidden_layers=layers,
        num_attention_heads=width // 32, num_key_value_heads=width // 32, head_dim=32,
        max_position_embeddings=MAX_POS, rope_theta=10000.0, tie_word_embeddings=True,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "stepsieve" / "embedded" / "gui_policy")
    ap.add_argument("--minutes", type=float, default=15.0)
    ap.add_argument("--steps", type=int, default=None, help="exact step count (overrides --minutes)")
    ap.add_argument("--task-steps", default="3-12", help="plan lengths of the demonstration tasks, MIN-MAX")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lo, hi = (int(v) for v in args.task_steps.split("-"))

    t_vocab = time.time()
    tok = build_word_tokenizer(vocabulary())
    model = build_model(tok, args.width, args.layers, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[gui-policy] vocab {len(tok)}, {n_params / 1e6:.2f}M parameters ({time.time() - t_vocab:.0f}s)", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    data = Demonstrations(args.seed, (lo, hi))
    warmup, total, step, ema = 30, args.steps, 0, None
    t0 = time.time()
    model.train()
    while total is None or step < total:
        if total is None and step == 20:
            per = (time.time() - t0) / 20
            total = max(40, int(args.minutes * 60 / per))
            print(f"[gui-policy] {per:.2f}s/step -> {total} steps for {args.minutes} min", flush=True)
        frac = step / total if total else 0.0
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = encode_batch(tok, [data.next() for _ in range(args.batch)])
        loss = model(input_ids=x, labels=y).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        step += 1
        if step % 25 == 0:
            print(f"[gui-policy] step {step}/{total} loss {ema:.4f} lr {lr:.2e} {time.time() - t0:.0f}s", flush=True)
    secs = time.time() - t0
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save_pretrained(args.out)
    meta = {"seed": args.seed, "steps": step, "batch": args.batch, "lr": args.lr, "width": args.width,
            "layers": args.layers, "params": n_params, "vocab": len(tok), "task_steps": [lo, hi],
            "train_seconds": round(secs), "threads": args.threads, "final_loss": ema,
            "demonstration_seeds": f"{TRAIN_SEED_BASE + args.seed * 100_000}+"}
    (args.out / "train_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[gui-policy] saved to {args.out} after {step} steps, {secs / 60:.1f} min, loss {ema:.4f}", flush=True)


if __name__ == "__main__":
    main()
