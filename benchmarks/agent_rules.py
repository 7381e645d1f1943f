"""agent-rules vs the truth of the embedded toolcalc world: precision, recall and F1 of its
``incorrect`` flags, and seconds.

    PYTHONPATH=src python benchmarks/agent_rules.py [--n 200] [--seed 0]

Samples ``n`` toolcalc trajectories with the embedded policy (``stepsieve sample --world
toolcalc``: per-action truth labels), grades them with ``agent-rules`` and compares each
step's verdict with the truth. Steps the truth leaves undecided (after the first error) are
not scored; the grader's abstentions count against recall, never against precision.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stepsieve.formats import read_trajectories
from stepsieve.graders.agent_rules import AgentRulesGrader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.jsonl"
        cli = "from stepsieve.cli import main; main()"
        cmd = [
            sys.executable,
            "-c",
            cli,
            "sample",
            "--world",
            "toolcalc",
            "--n",
            str(args.n),
            "--out",
            str(path),
        ]
        subprocess.run([*cmd, "--seed", str(args.seed)], check=True, capture_output=True)
        trajectories = list(read_trajectories(path))
    grader = AgentRulesGrader()
    t0 = time.perf_counter()
    graded = list(grader.grade(trajectories))
    seconds = time.perf_counter() - t0
    tp = fp = fn = abstained = undecided_flags = 0
    reasons: dict[str, int] = {}
    for t in graded:
        for s in t.steps:
            truth = s.labels.get("truth")
            flag = s.labels[grader.name].verdict == "incorrect"
            if flag:
                why = (s.labels[grader.name].rationale or "").split(":")[0]
                reasons[why] = reasons.get(why, 0) + 1
            if truth is None or truth.verdict is None:
                undecided_flags += flag
                continue
            wrong = truth.verdict == "incorrect"
            tp += flag and wrong
            fp += flag and not wrong
            fn += wrong and not flag
            abstained += s.labels[grader.name].verdict is None
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    steps = sum(len(t.steps) for t in graded)
    print(
        json.dumps(
            {
                "world": "toolcalc",
                "trajectories": len(graded),
                "steps": steps,
                "flags": tp + fp,
                "true_positives": tp,
                "false_positives": fp,
                "false_negatives": fn,
                "flags_on_steps_truth_leaves_undecided": undecided_flags,
                "abstained": abstained,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "flags_by_reason": reasons,
                "seconds": seconds,
                "steps_per_second": steps / seconds if seconds else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
