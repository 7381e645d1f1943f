"""The main job (``make demo``): the whole story on the embedded default, one function a stage.

sample -> grade (mc, first-error search) -> evaluate against truth -> curate + pairs + export
-> train a StepRM on the mc labels -> reward-guided search -> HTML report.

Every stage runs a CLI verb exactly as a user would (same entry point, same progress bars), so
this script doubles as a tour of the CLI. No GPU, no server, no network: the world and the
models ship in the package. Knobs (environment): STEPSIEVE_DEMO_DIR (runs/demo),
STEPSIEVE_DEMO_TASKS (400), STEPSIEVE_DEMO_N (8 rollouts per probe).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from stepsieve.embedded import POLICY_DIR

RUN = Path(os.environ.get("STEPSIEVE_DEMO_DIR", "runs/demo"))
TASKS = int(os.environ.get("STEPSIEVE_DEMO_TASKS", "400"))
N = int(os.environ.get("STEPSIEVE_DEMO_N", "8"))
STAGES: list[dict] = []


def stepsieve(*args: str) -> None:
    """Run a CLI verb as a user would."""
    cmd = [str(Path(sys.executable).with_name("stepsieve")), *args]
    print("\n$ " + " ".join(["stepsieve", *args]), flush=True)
    subprocess.run(cmd, check=True)


def stage(name: str):
    """Time a stage and record it in summary.json (the report's overview reads it)."""

    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            STAGES.append({"name": name, "seconds": round(time.perf_counter() - t0, 1)})
            (RUN / "summary.json").write_text(json.dumps({"stages": STAGES}, indent=2))
            return out

        return run

    return wrap


@stage("sample")
def sample() -> Path:
    """Two samples of each 4-6-operation task from the embedded policy, truth on every step."""
    out = RUN / "samples.jsonl"
    stepsieve("sample", "--world", "arith", "--n", str(TASKS), "--ops", "4-6", "--samples-per-task", "2",
              "--temperature", "1.0", "--seed", "0", "--out", str(out))
    return out


@stage("grade")
def grade(samples: Path) -> Path:
    """Monte Carlo labels with OmegaPRM's binary search for the first error (resumable)."""
    out = RUN / "graded.jsonl"
    stepsieve("grade", str(samples), str(out), "--grader", "mc", "--mode", "first-error", "--n", str(N),
              "--keep-rollouts", "--seed", "0")
    return out


@stage("evaluate")
def evaluate(graded: Path) -> None:
    """ProcessBench F1 and step F1 of the mc labels against the exact truth."""
    stepsieve("eval", str(graded), "--label", "mc", "--against", "truth", "--out", str(RUN / "eval_mc.json"))


@stage("curate")
def curate(graded: Path) -> None:
    """Partial masking (STeP) -> OpenAI fine-tuning JSONL; Step-DPO pairs -> Parquet for datasets."""
    masked = RUN / "curated.jsonl"
    stepsieve("curate", str(graded), "-o", str(masked), "--label", "mc", "--mode", "mask")
    stepsieve("export", str(masked), "-o", str(RUN / "sft_openai.jsonl"), "--format", "openai-chat")
    stepsieve("export", str(graded), "-o", str(RUN / "prm_stepwise.parquet"), "--format", "trl-stepwise",
              "--label", "mc", "--soft")
    stepsieve("pairs", str(graded), "-o", str(RUN / "step_dpo.parquet"), "--format", "step-dpo",
              "--label", "mc", "--value-label", "mc")


@stage("train-prm")
def train_prm(graded: Path) -> Path:
    """A StepRM on the mc labels (never on truth), from the embedded policy's backbone."""
    out = RUN / "steprm"
    # The shipped StepRM's recipe (docs/steprm.md): a small head over the policy's own token
    # log-probabilities trained on the frozen policy (one pass to cache features, then seconds of head
    # training), then 2 epochs of backbone and head together (~1 min on the demo's 800 trajectories).
    stepsieve("train-prm", str(graded), "--base", str(POLICY_DIR), "--out", str(out), "--label", "mc",
              "--head", "logprobs", "--freeze-backbone", "--template", "Problem: {task}\\nSolution:\\n",
              "--epochs", "20", "--lr", "3e-3", "--finetune-epochs", "2", "--finetune-lr", "3e-4", "--device", "cpu")
    return out


@stage("search")
def search(steprm: Path) -> None:
    """Majority vote vs StepRM best-of-N vs step beam search on harder (6-8 op) tasks."""
    stepsieve("search", "--tasks", "40", "--knob", "ops=6-8", "--n", "1,2,4,8,16", "--beam", "4x4",
              "--greedy-expand", "0", "--prm", str(steprm), "--out", str(RUN / "search.json"))


@stage("report")
def report() -> Path:
    stepsieve("report", str(RUN))
    return RUN / "report.html"


def main() -> None:
    RUN.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    samples = sample()
    graded = grade(samples)
    evaluate(graded)
    curate(graded)
    steprm = train_prm(graded)
    search(steprm)
    html = report()
    print(f"\nDone in {time.perf_counter() - t0:.0f} s. Stages: "
          + ", ".join(f"{s['name']} {s['seconds']}s" for s in STAGES))
    print(f"Report: {html.resolve()}")


if __name__ == "__main__":
    main()
