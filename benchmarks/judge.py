"""The offline judge (embedded verifier) against the truth on the policy's own solutions; prints JSON.

One run, the same held-out trajectories for every configuration: the embedded policy's
solutions to 4-6-operation ``arith`` tasks at temperature 1.0 with at least ``--min-steps``
steps (the kind ``benchmarks/grading.py`` grades), per-step truth from the world's exact
checker. Tasks come from seeds ``--seed`` + round (default 500000: disjoint from
benchmarks/grading.py's 0-9 and from the verifier's training tasks, 1000000+).

For each verifier (``before``: the one shipped at ``--before-rev``, extracted from git;
``after``: the installed one) and each ``--votes`` value: ProcessBench first-error F1
(``stepsieve.evaluate``), accuracy on erroneous / correct trajectories, per-step precision
and recall of the steps it marks incorrect, unparseable share, generated tokens and seconds.

Usage: python benchmarks/judge.py [--trajectories 200] [--votes 1 5] [--before-rev 1d3f9de]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import torch
from grading import sample  # the same held-out sampler as the grading benchmark (this folder)

from stepsieve.backends.transformers import TransformersBackend
from stepsieve.embedded import VERIFIER_DIR
from stepsieve.evaluate import evaluate
from stepsieve.graders.judge import JudgeGrader
from stepsieve.trajectory import Trajectory
from stepsieve.worlds.arith import ArithWorld

ROOT = Path(__file__).resolve().parents[1]
_FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]


def extract(rev: str, dest: Path) -> Path | None:
    """The verifier directory as committed at ``rev`` (None when git cannot give it)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in _FILES:
        r = subprocess.run(["git", "show", f"{rev}:src/stepsieve/embedded/verifier/{f}"], cwd=ROOT,
                           capture_output=True, check=False)
        if r.returncode != 0:
            return None
        (dest / f).write_bytes(r.stdout)
    return dest


def figures(ts: list[Trajectory], label: str, seconds: float) -> dict:
    rep = evaluate(ts, label, "truth")
    pb, st, per = rep["processbench"], rep["steps"], rep["cost"]["per_trajectory"]
    unparsed = sum(1 for t in ts if t.steps[0].labels[label].verdict is None)
    return {
        "first_error_f1": pb["average_f1"],
        "acc_error": pb["splits"]["arith"]["acc_error"],
        "acc_correct": pb["splits"]["arith"]["acc_correct"],
        "incorrect_marks_precision": st["precision_wrong"],
        "incorrect_marks_recall": st["recall_wrong"],
        "incorrect_marks": st["flagged"],
        "unparseable": unparsed / len(ts),
        "generated_tokens_per_trajectory": per["tokens_out"],
        "seconds": round(seconds, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=200)
    ap.add_argument("--min-steps", type=int, default=4)
    ap.add_argument("--seed", type=int, default=500000)
    ap.add_argument("--votes", type=int, nargs="+", default=[1, 5])
    ap.add_argument("--before-rev", default="1d3f9de", help="git revision of the verifier to compare against")
    ap.add_argument("--after", type=Path, default=VERIFIER_DIR, help="verifier directory to measure")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    ts = sample(TransformersBackend(None), ArithWorld(), a.trajectories, a.min_steps, a.seed, max_tokens=160)
    with_error = sum(1 for t in ts if t.first_error("truth") not in (-1, None))
    result: dict = {"trajectories": len(ts), "with_error": with_error, "seed": a.seed, "ops": "4-6",
                    "min_steps": a.min_steps, "sampling_seconds": round(time.perf_counter() - t0, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {"after": a.after}
        before = extract(a.before_rev, Path(tmp) / "before") if a.before_rev else None
        if before is not None:
            dirs = {"before": before, **dirs}
        else:
            result["before"] = f"skipped: no verifier at git revision {a.before_rev!r}"
        for which, d in dirs.items():
            for v in a.votes:
                name = f"judge_{which}_v{v}"
                g = JudgeGrader(votes=v, verifier=d, name=name)
                t1 = time.perf_counter()
                for i in range(0, len(ts), 50):
                    list(g.grade(ts[i:i + 50]))
                fig = figures(ts, name, time.perf_counter() - t1)
                result.setdefault(which, {"format": g.verifier_format})[f"votes_{v}"] = fig
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
