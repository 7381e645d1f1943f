"""Train the embedded GUI policy (CPU only, reproducible from a seed).

    python scripts/train_gui_policy.py --seed 0 --tasks 600 --steps 400 --threads 1

The policy (``stepsieve.backends.gui_policy``: a tiny element-ranking model) learns ONLY the
planner's reference demonstrations of the ``gui`` world: each example is the prompt of one
turn (the task and the current screen's accessibility tree) and the reference action, with a
cross-entropy over the candidate actions the policy builds from that prompt. It never sees a
mistake or a recovery, so the errors it makes at temperature 1 are its own.

``--eval-every K`` samples rollouts at temperature 1 on held-out 5-8-step tasks every K
steps and prints the success rate (the benchmark's figure, on fewer tasks), which is how
the step count of the shipped run was chosen (``--snapshots`` keeps the model at each of
those steps; the learning rate is constant, so the snapshot at step K is exactly the run
``--steps K``). ``train_config.json`` records the run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from stepsieve.backends.gui_policy import (  # noqa: E402
    GuiPolicyBackend,
    GuiPolicyNet,
    candidates,
    train_policy,
    words,
)
from stepsieve.worlds import rollout  # noqa: E402
from stepsieve.worlds.gui import GuiWorld  # noqa: E402

WORLD = GuiWorld()
TRAIN_SEED_BASE = 100_000  # task seeds of the demonstrations; benchmarks/gui_world.py uses 0..99
EVAL_SEED = 4242


def demonstrations(n_tasks: int, seed: int, steps: tuple[int, int]) -> list[tuple[str, int]]:
    """(prompt, index of the reference action among the prompt's candidates) for every turn
    of the reference plans of ``n_tasks`` fresh tasks."""
    out: list[tuple[str, int]] = []
    missing = 0
    tasks = WORLD.sample_tasks(n_tasks, seed=TRAIN_SEED_BASE + seed, steps=steps)
    for t in tasks:
        ref = WORLD.reference(t)
        for k, act in enumerate(ref):
            prompt = WORLD.prompt(t, ref[:k])
            acts = [c.action for c in candidates(prompt)[2]]
            if act not in acts:
                missing += 1
                continue
            out.append((prompt, acts.index(act)))
    if missing:
        raise SystemExit(f"{missing} reference actions are not among the policy's candidates")
    return out


def vocabulary(data: list[tuple[str, int]]) -> list[str]:
    seen: dict[str, None] = {}
    for prompt, _ in data:
        task, context, cands = candidates(prompt)
        for w in [*words(task), *context, *(w for c in cands for w in c.words)]:
            seen.setdefault(w, None)
    return sorted(seen)


def success_rate(net: GuiPolicyNet, n: int, seed: int = EVAL_SEED) -> float:
    """Share of ``n`` held-out 5-8-step tasks the policy solves at temperature 1."""
    backend = GuiPolicyBackend.from_net(net)
    tasks = WORLD.sample_tasks(n, seed=seed, steps=(5, 8))
    outs = rollout(WORLD, backend, [(t, ()) for t in tasks], n=1, seed=seed, temperature=1.0, max_turns=WORLD.max_turns)
    ok = [WORLD.check_answer(t, WORLD.parse_answer("\n".join(row[0][0]))) for t, row in zip(tasks, outs)]
    return sum(ok) / len(ok)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "stepsieve" / "embedded" / "gui_policy")
    ap.add_argument("--tasks", type=int, default=600, help="demonstration tasks (reference plans)")
    ap.add_argument("--task-steps", default="3-12", help="plan lengths of the demonstration tasks, MIN-MAX")
    ap.add_argument("--steps", type=int, default=400, help="optimizer steps")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=0, help="success rate on held-out tasks every K steps")
    ap.add_argument("--eval-n", type=int, default=60)
    ap.add_argument("--snapshots", action="store_true", help="save the model at every evaluation (OUT.stepK)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    lo, hi = (int(v) for v in args.task_steps.split("-"))

    t0 = time.time()
    data = demonstrations(args.tasks, args.seed, (lo, hi))
    net = GuiPolicyNet(vocabulary(data), args.dim, args.hidden)
    n_params = sum(p.numel() for p in net.parameters())
    t_data = time.time() - t0
    print(f"[gui-policy] {len(data)} demonstrations from {args.tasks} tasks, vocab {len(net.vocab)}, "
          f"{n_params / 1e3:.0f}k parameters ({t_data:.0f}s)", flush=True)
    t1 = time.time()
    ema: float | None = None
    history: list[dict] = []

    def on_step(step: int, loss: float) -> None:
        nonlocal ema
        ema = loss if ema is None else 0.9 * ema + 0.1 * loss
        if step % 25 == 0:
            print(f"[gui-policy] step {step}/{args.steps} loss {ema:.4f} {time.time() - t1:.0f}s", flush=True)
        if args.eval_every and step % args.eval_every == 0:
            net.eval()
            sr = success_rate(net, args.eval_n)
            history.append({"step": step, "success": sr})
            print(f"[gui-policy] step {step} success@T1 {sr:.3f} on {args.eval_n} held-out 5-8-step tasks", flush=True)
            if args.snapshots:  # the learning rate is constant: a snapshot at step K is the run --steps K
                net.save(args.out.with_name(f"{args.out.name}.step{step}"), {"steps": step})

    train_policy(net, data, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, on_step=on_step)
    secs = time.time() - t1
    meta = {"seed": args.seed, "steps": args.steps, "batch": args.batch, "lr": args.lr, "tasks": args.tasks,
            "task_steps": [lo, hi], "demonstrations": len(data), "params": n_params, "train_seconds": round(secs),
            "data_seconds": round(t_data), "threads": args.threads, "final_loss": ema,
            "demonstration_seeds": TRAIN_SEED_BASE + args.seed, "eval_history": history}
    net.save(args.out)
    (args.out / "train_config.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"[gui-policy] saved to {args.out} after {args.steps} steps, {secs / 60:.1f} min, loss {ema:.4f}", flush=True)


if __name__ == "__main__":
    main()
