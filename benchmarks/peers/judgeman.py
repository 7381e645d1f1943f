"""judgeman 0.1.3 (PyPI) vs stepsieve's ``agent-rules`` on the same ``toolcalc`` trajectories; prints JSON.

    PYTHONPATH=src python benchmarks/peers/judgeman.py [--n 50] [--seed 0] [--sampled x.jsonl]

judgeman ("Step-level evals for AI agent runs, with a measured trust number for the judge")
is installed in its own virtual environment, ``benchmarks/peers/.venv-judgeman`` (created
here on first use: ``python3 -m venv`` + ``pip install 'judgeman[judge]==0.1.3'``), and run
there by ``_judgeman_side.py``; stepsieve runs in this interpreter.

Data: ``stepsieve sample --world toolcalc --n N`` (the embedded policy's tool-call runs,
per-action ``truth`` labels from the world's exact checker). Each run becomes a judgeman
``Trajectory`` the way judgeman's own adapters render a non-shell tool: the call as a short
pseudo-command (``calculator 4 + 5``, ``answer 50``), the tool's observation as ``output``,
``returncode`` 1 when the observation reports an error (``error: ...``) else 0,
``is_submit`` on the ``answer`` call, and ``resolved`` = whether the final answer is right.

judgeman can run offline only its free rules (``run_checks``): its judge layers (a small
open judge on every step, a frontier judge on the flagged ones) call an OpenAI-compatible
chat endpoint (OpenRouter by default, ``JUDGEMAN_BASE_URL`` for another). The side script
tries that layer as judgeman builds it and records the exact error; stepsieve's own
offline judge (the embedded verifier, ``grade judge`` with no model) is tried on the same
runs and recorded the same way.

A judgeman step counts as flagged ("this step is bad") when any of its verdict axes
fires: ``progress`` false, ``redundant``, ``risky``, ``unverified_completion`` or
``outcome_process_mismatch``. Its ``failed_command`` flag is informational in judgeman
(never a verdict, never a reason to escalate), so it is scored separately as
``judgeman_rules_with_failed_command``. Scoring as ``benchmarks/agent_rules.py``: steps the
truth leaves undecided (after the first error) are not scored; precision and recall of
the flags against truth ``incorrect``. Cost: calls, dollars (0 for rules) and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stepsieve.formats import read_trajectories
from stepsieve.graders.agent_rules import AgentRulesGrader
from stepsieve.graders.judge import JudgeGrader
from stepsieve.trajectory import Trajectory

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-judgeman"
PIN = "judgeman[judge]==0.1.3"
RESULTS = HERE.parent / "results"
AXES = ("redundant", "risky", "unverified_completion", "outcome_process_mismatch")


def ensure_venv() -> Path:
    """judgeman's own venv (created and filled from PyPI on first use); its python."""
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(py), "-c", "import judgeman"], check=False, capture_output=True)
    if probe.returncode:
        subprocess.run([str(py), "-m", "pip", "install", "-q", PIN], check=True)
    return py


def sample(n: int, seed: int, path: Path) -> list[Trajectory]:
    if not path.is_file():
        cli = "from stepsieve.cli import main; main()"
        cmd = [sys.executable, "-c", cli, "sample", "--world", "toolcalc", "--n", str(n), "--seed", str(seed),
               "--out", str(path)]
        subprocess.run(cmd, check=True, capture_output=True)
    return list(read_trajectories(path))


def to_judgeman(t: Trajectory) -> dict:
    """One toolcalc run as a judgeman Trajectory dict (see the module doc)."""
    steps = []
    for i, s in enumerate(t.steps):
        obs = s.observation or ""
        steps.append({"index": i, "thought": "", "command": s.text.strip(), "output": obs,
                      "returncode": 1 if obs.strip().lower().startswith("error") else 0,
                      "is_submit": s.text.strip().startswith("answer")})
    problem = t.meta.get("task", {}).get("problem", "")
    return {"id": t.id, "task": problem, "steps": steps,
            "resolved": None if t.outcome is None else t.outcome.correct}


def score(ts: list[Trajectory], flags: dict[tuple[str, int], bool]) -> dict:
    """Precision / recall of per-step flags against truth ``incorrect`` (undecided steps not scored)."""
    tp = fp = fn = undecided = 0
    for t in ts:
        for i, s in enumerate(t.steps):
            flag = flags[(t.id, i)]
            truth = s.labels.get("truth")
            if truth is None or truth.verdict is None:
                undecided += flag
                continue
            wrong = truth.verdict == "incorrect"
            tp += flag and wrong
            fp += flag and not wrong
            fn += wrong and not flag
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    return {"flags": tp + fp, "true_positives": tp, "false_positives": fp, "false_negatives": fn,
            "flags_on_undecided_steps": undecided, "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p and r else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sampled", default=None, help="toolcalc trajectories: read if the file exists, else written")
    ap.add_argument("--out", default=str(RESULTS / "peers_judgeman.json"))
    a = ap.parse_args()
    py = ensure_venv()
    with tempfile.TemporaryDirectory() as tmp:
        ts = sample(a.n, a.seed, Path(a.sampled or Path(tmp) / "toolcalc.jsonl"))
    steps = sum(len(t.steps) for t in ts)

    # judgeman, in its own venv. No key is passed on: offline is the point being measured.
    env = {k: v for k, v in os.environ.items() if not k.endswith("API_KEY")}
    t0 = time.perf_counter()
    proc = subprocess.run([str(py), "-I", str(HERE / "_judgeman_side.py")], input=json.dumps(
        {"runs": [to_judgeman(t) for t in ts]}), capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"judgeman's side failed (exit {proc.returncode}):\n{proc.stderr}")
    jm_wall = time.perf_counter() - t0
    side = json.loads(proc.stdout)
    verdict: dict[tuple[str, int], bool] = {}
    with_failed: dict[tuple[str, int], bool] = {}
    by_flag: dict[str, int] = {}
    for t, labs in zip(ts, side["labels"]):
        for i, lab in enumerate(labs):
            v = lab["progress"] is False or any(lab[x] for x in AXES)
            verdict[(t.id, i)] = v
            with_failed[(t.id, i)] = v or "failed_command" in lab["flags"]
            for f in lab["flags"]:
                by_flag[f] = by_flag.get(f, 0) + 1

    # stepsieve agent-rules, in this interpreter.
    grader = AgentRulesGrader()
    t0 = time.perf_counter()
    graded = list(grader.grade(ts))
    ar_seconds = time.perf_counter() - t0
    ar = {(t.id, i): s.labels[grader.name].verdict == "incorrect" for t in graded for i, s in enumerate(t.steps)}

    # stepsieve's offline judge (embedded verifier) on the same runs, if it takes them.
    sj: dict = {"grader": "judge (embedded verifier, offline)"}
    try:
        t0 = time.perf_counter()
        jg = list(JudgeGrader(None, mode="first-error").grade(graded))
        sj_flags = {(t.id, i): s.labels["judge"].verdict == "incorrect" for t in jg for i, s in enumerate(t.steps)}
        sj.update(ran=True, seconds=time.perf_counter() - t0, **score(jg, sj_flags))
    except Exception as e:  # noqa: BLE001 - whatever stops it offline is the finding, recorded
        sj.update(ran=False, error=f"{type(e).__name__}: {e}")

    n_wrong = sum(1 for t in ts for s in t.steps if s.labels.get("truth") and s.labels["truth"].verdict == "incorrect")
    result = {
        "world": "toolcalc (embedded world, embedded policy)",
        "command": f"PYTHONPATH=src python benchmarks/peers/judgeman.py --n {a.n} --seed {a.seed}",
        "trajectories": len(ts), "steps": steps, "truth_incorrect_steps": n_wrong,
        "peer": {"name": "judgeman", "version": side["judgeman"], "installed": PIN, "venv": str(VENV.relative_to(
            HERE.parent.parent))},
        "rows": {
            "judgeman_rules": {**score(ts, verdict), "calls": 0, "dollars": 0.0,
                               "seconds": side["rules_seconds"], "seconds_with_venv_process": jm_wall},
            "judgeman_rules_with_failed_command": {**score(ts, with_failed), "calls": 0, "dollars": 0.0},
            "stepsieve_agent_rules": {**score(graded, ar), "calls": 0, "dollars": 0.0, "seconds": ar_seconds},
            "stepsieve_judge": sj,
        },
        "judgeman_flags_by_kind": by_flag,
        "judgeman_judge_offline": {
            **side["judge"],
            "why": "judgeman's judge layers (small judge on every step, frontier judge on the flagged) call an "
                   "OpenAI-compatible chat endpoint (OpenRouter by default, JUDGEMAN_BASE_URL for another such "
                   "as Ollama); this machine has none and no network, so only its rules run offline",
        },
    }
    RESULTS.mkdir(exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
