"""The main job (``make demo``): the whole story on the embedded default, one function a stage.

sample -> grade (mc, first-error search) -> evaluate against truth -> curate + pairs + export
-> train a StepRM on the mc labels -> reward-guided search -> HTML report.

Then the same loop for a computer-use agent on the embedded ``gui`` world (screenshots in every
record), in ``RUN/gui``: sample -> mc values of every step -> evaluate -> curate + VLM exports
-> train the vision StepRM on the mc labels -> grade held-out runs with it and evaluate ->
report with the step viewer (screenshots, the action drawn, every label).

Every stage runs a CLI verb exactly as a user would (same entry point, same progress bars), so
this script doubles as a tour of the CLI. No GPU, no server, no network: the world and the
models ship in the package. Knobs (environment): STEPSIEVE_DEMO_DIR (runs/demo),
STEPSIEVE_DEMO_TASKS (400), STEPSIEVE_DEMO_N (8 rollouts per probe), STEPSIEVE_DEMO_GUI_TASKS
(240 training runs of the gui policy; 0 skips the gui loop).
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
GUI_TASKS = int(os.environ.get("STEPSIEVE_DEMO_GUI_TASKS", "240"))
GUI = RUN / "gui"
STAGES: list[dict] = []
GUI_STAGES: list[dict] = []


def stepsieve(*args: str) -> None:
    """Run a CLI verb as a user would."""
    cmd = [str(Path(sys.executable).with_name("stepsieve")), *args]
    print("\n$ " + " ".join(["stepsieve", *args]), flush=True)
    subprocess.run(cmd, check=True)


def stage(name: str, run_dir: Path = RUN, stages: list[dict] = STAGES):
    """Time a stage and record it in the run's summary.json (the report's overview reads it)."""

    def wrap(fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            stages.append({"name": name, "seconds": round(time.perf_counter() - t0, 1)})
            (run_dir / "summary.json").write_text(json.dumps({"stages": stages}, indent=2))
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


def gui_stage(name: str):
    return stage(name, GUI, GUI_STAGES)


@gui_stage("sample")
def gui_sample() -> tuple[Path, Path]:
    """Runs of the embedded gui policy (5-8-action shop tasks, temperature 1), screenshots before
    and after every action; a held-out set from another seed for the StepRM's evaluation."""
    train, test = GUI / "samples.jsonl", GUI / "heldout.jsonl"
    stepsieve("sample", "--world", "gui", "--n", str(GUI_TASKS), "--ops", "5-8", "--seed", "0", "--out", str(train))
    stepsieve("sample", "--world", "gui", "--n", str(max(1, GUI_TASKS // 2)), "--ops", "5-8", "--seed", "1",
              "--out", str(test))
    return train, test


@gui_stage("grade")
def gui_grade(samples: Path) -> Path:
    """Monte Carlo values of every action (the policy finishes the task from each prefix)."""
    out = GUI / "graded.jsonl"
    stepsieve("grade", str(samples), str(out), "--grader", "mc", "--backend", "gui-policy", "--mode", "every-step",
              "--root", "true", "--n", "4", "--seed", "0")
    return out


@gui_stage("evaluate")
def gui_evaluate(graded: Path) -> None:
    stepsieve("eval", str(graded), "--label", "mc", "--against", "truth", "--out", str(GUI / "eval_mc.json"))


@gui_stage("curate")
def gui_curate(graded: Path) -> None:
    """Keep the actions mc calls correct (the rest masked) -> the layouts VLM trainers read."""
    masked = GUI / "curated.jsonl"
    stepsieve("curate", str(graded), "-o", str(masked), "--label", "mc", "--mode", "mask")
    stepsieve("export", str(masked), "-o", str(GUI / "sft_trl_vision.jsonl"), "--format", "trl-vision")
    stepsieve("export", str(masked), "-o", str(GUI / "sft_openai_vision.jsonl"), "--format", "openai-vision")


@gui_stage("train-prm")
def gui_train_prm(graded: Path) -> Path:
    """The vision StepRM (screenshot + action, no accessibility tree) on the mc values, never truth."""
    out = GUI / "steprm"
    stepsieve("train-prm", str(graded), "--out", str(out), "--label", "mc", "--arch", "vision", "--seed", "0")
    return out


@gui_stage("prm")
def gui_prm(heldout: Path, steprm: Path) -> None:
    """Grade the held-out runs with the trained StepRM (one pass a run) and measure it against truth."""
    out = GUI / "heldout_prm.jsonl"
    stepsieve("grade", str(heldout), str(out), "--grader", "prm", "--model", str(steprm))
    stepsieve("eval", str(out), "--label", "prm", "--against", "truth", "--out", str(GUI / "eval_prm.json"))


@gui_stage("report")
def gui_report() -> Path:
    stepsieve("report", str(GUI))
    return GUI / "report.html"


def gui_loop() -> Path:
    GUI.mkdir(parents=True, exist_ok=True)
    train, heldout = gui_sample()
    graded = gui_grade(train)
    gui_evaluate(graded)
    gui_curate(graded)
    steprm = gui_train_prm(graded)
    gui_prm(heldout, steprm)
    return gui_report()


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
    t_math = time.perf_counter() - t0
    gui_html = gui_loop() if GUI_TASKS > 0 else None
    print(f"\nDone in {time.perf_counter() - t0:.0f} s.")
    print(f"Math ({t_math:.0f} s): " + ", ".join(f"{s['name']} {s['seconds']}s" for s in STAGES))
    if gui_html is not None:
        print("GUI (" + f"{sum(s['seconds'] for s in GUI_STAGES):.0f} s): "
              + ", ".join(f"{s['name']} {s['seconds']}s" for s in GUI_STAGES))
    print(f"Report: {html.resolve()}")
    if gui_html is not None:
        print(f"GUI report and step viewer: {gui_html.resolve()}, {(GUI / 'steps.html').resolve()}")


if __name__ == "__main__":
    main()
