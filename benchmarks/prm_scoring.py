"""One-pass StepRM scoring vs one forward pass per step prefix (ProcessBench-server style).

Same model, same trajectories (arith reference solutions with 7 operations + the answer
line = 8 steps), same batch size, same run; prints JSON with forward tokens, forward
passes, wall seconds, their ratios, and the largest score difference between the two.

    python benchmarks/prm_scoring.py [--trajectories 64] [--batch-size 16] [--device cpu]

The model is the embedded StepRM when it ships, else a StepRM on the embedded policy's
backbone, else a random Llama of the embedded policy's size (timing needs no training).
"""

from __future__ import annotations

import argparse
import json
import string
import tempfile
import time
from pathlib import Path

import torch

from stepsieve.prm import ScoreStats, StepRM, StepRMConfig, StepRMScorer, default_model_dir, score_per_prefix
from stepsieve.trajectory import Step, Trajectory
from stepsieve.worlds import get_world


def _random_base(d: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<s>": 2, "</s>": 3}
    for c in "\n " + string.digits + string.ascii_letters + "+-*/=().,?:;'|<>!×÷−":
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.decoder = decoders.Fuse()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                            eos_token="</s>").save_pretrained(str(d))
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    LlamaForCausalLM(cfg).save_pretrained(str(d))
    return d


def load_model(device: str) -> tuple[StepRM, str]:
    if (default_model_dir() / "stepsieve_prm.json").is_file():
        return StepRM.load(default_model_dir(), device=device), "embedded StepRM"
    policy = Path(__file__).resolve().parent.parent / "src/stepsieve/embedded/policy"
    if (policy / "model.safetensors").is_file():
        rm = StepRM.from_base(policy, StepRMConfig()).to(device).eval()
        return rm, "StepRM on the embedded policy (untrained head)"
    base = _random_base(Path(tempfile.mkdtemp()))
    return StepRM.from_base(base, StepRMConfig()).to(device).eval(), "random Llama 4x128 (no embedded model yet)"


def trajectories(n: int) -> list[Trajectory]:
    world = get_world("arith")
    out = []
    for task in world.sample_tasks(n, 7, ops=7):
        steps = world.reference(task)
        assert len(steps) == 8, steps
        out.append(Trajectory(task.id, task.problem, [Step(i, s) for i, s in enumerate(steps)]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trajectories", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.manual_seed(0)
    model, what = load_model(args.device)
    # so the agreement check compares varied scores (the head is a Linear or an MLP)
    last = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.normal_(last.weight, std=0.5)
    trajs = trajectories(args.trajectories)
    scorer = StepRMScorer(model, batch_size=args.batch_size)
    scorer.score_steps(trajs[: args.batch_size])  # warm-up
    score_per_prefix(model, trajs[: args.batch_size // 4 or 1], batch_size=args.batch_size)

    def sync() -> None:
        if model.device.type == "cuda":
            torch.cuda.synchronize()

    best_one, best_pre = float("inf"), float("inf")
    for _ in range(args.repeats):  # interleaved, best of N: the two paths see the same machine load
        scorer.stats = ScoreStats()
        t0 = time.perf_counter()
        one = scorer.score_steps(trajs)
        sync()
        best_one = min(best_one, time.perf_counter() - t0)
        one_stats = scorer.stats
        pre_stats = ScoreStats()
        t0 = time.perf_counter()
        pre = score_per_prefix(model, trajs, batch_size=args.batch_size, stats=pre_stats)
        sync()
        best_pre = min(best_pre, time.perf_counter() - t0)
    diff = max(abs(a - b) for x, y in zip(one, pre) for a, b in zip(x, y))
    result = {
        "benchmark": "prm_scoring",
        "model": what,
        "device": str(model.device),
        "steps_per_trajectory": 8,
        "trajectories": len(trajs),
        "batch_size": args.batch_size,
        "one_pass": {"forward_passes": one_stats.passes, "forward_tokens": one_stats.tokens,
                     "seconds": round(best_one, 4)},
        "per_prefix": {"forward_passes": pre_stats.passes, "forward_tokens": pre_stats.tokens,
                       "seconds": round(best_pre, 4)},
        "token_ratio": round(pre_stats.tokens / one_stats.tokens, 2),
        "speedup": round(best_pre / best_one, 2),
        "max_abs_score_diff": diff,
    }
    result["targets_met"] = {"token_ratio>=4": result["token_ratio"] >= 4, "speedup>=3": result["speedup"] >= 3}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
