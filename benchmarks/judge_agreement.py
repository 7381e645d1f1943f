"""Judge, agent-rules and their consensus against the truth of the embedded toolcalc world.

    PYTHONPATH=src python benchmarks/judge_agreement.py [--n 30] [--gui 20] [--seed 0] [--votes 1]

Samples ``n`` toolcalc trajectories with the embedded policy (``stepsieve sample --world
toolcalc``: exact per-action truth), then grades every action step with

- ``judge`` in per-action mode through a **real vLLM server** (CPU build, ``.venv-vllm``)
  serving the embedded policy — a character-level arithmetic model, not a judge, so this
  measures the path (requests, strict parsing, per-item cost, context handling), not judge
  quality: expect most replies unparseable;
- ``agent-rules`` (model-free);
- ``consensus`` (label mode) of the two: a step is flagged only where both flag it.

For each: precision, recall and F1 of the ``incorrect`` flags over the steps the truth
decides (abstentions count against recall only), the share of steps left undecided, and the
cost per step (model calls, prompt and output tokens, seconds). The judge uses a compact
template (written here, passed as ``template=``) because the served model's window is 1,024
tokens; prompts that still do not fit are skipped and counted (``too_long=skip``).
With ``--gui N`` the same three run on ``N`` trajectories of the embedded ``gui`` world
(screens before/after every action); the served model reads text only, so the judge runs with
``images=0`` (blind: the accessibility tree in the observation is all it sees).
Prints one JSON object and saves it to benchmarks/results/judge_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stepsieve.backends._server import VLLMServer, vllm_python
from stepsieve.backends._tiny_model import embedded_policy_dir
from stepsieve.backends.openai import OpenAIBackend
from stepsieve.formats import read_trajectories
from stepsieve.graders.agent_rules import AgentRulesGrader
from stepsieve.graders.consensus import ConsensusGrader
from stepsieve.graders.judge import JudgeGrader
from stepsieve.trajectory import Trajectory

ROOT = Path(__file__).resolve().parents[1]
COMPACT = (
    "Task: {{task}}\nEarlier:\n{{history}}\nAction {{index}}: {{action}}\nResult: {{observation}}\n"
    "Is the action correct and useful toward the task? End with two lines:\n"
    "Verdict: correct or incorrect\nKind: none, wrong_action, wrong_target, redundant or other\n"
)


def figures(ts: list[Trajectory], name: str, seconds: float) -> dict:
    tp = fp = fn = undecided = decided_truth = 0
    calls = tin = tout = 0
    steps = 0
    for t in ts:
        for s in t.steps:
            if s.kind != "action":
                continue
            steps += 1
            lab = s.labels.get(name)
            if lab is not None and lab.cost is not None:
                calls, tin, tout = calls + lab.cost.calls, tin + lab.cost.tokens_in, tout + lab.cost.tokens_out
            truth = s.labels.get("truth")
            if truth is None or truth.verdict is None:
                continue
            decided_truth += 1
            flag = lab is not None and lab.verdict == "incorrect"
            undecided += lab is None or lab.verdict is None
            wrong = truth.verdict == "incorrect"
            tp += flag and wrong
            fp += flag and not wrong
            fn += wrong and not flag
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {
        "flags": tp + fp, "true_flags": tp, "precision": precision, "recall": recall, "f1": f1,
        "undecided_share": undecided / decided_truth if decided_truth else None,
        "per_step": {"calls": calls / steps, "tokens_in": tin / steps, "tokens_out": tout / steps,
                     "seconds": seconds / steps},
    }


def sample(world: str, n: int, seed: int, tmp: Path) -> list[Trajectory]:
    path = tmp / f"{world}.jsonl"
    cli = "from stepsieve.cli import main; main()"
    subprocess.run([sys.executable, "-c", cli, "sample", "--world", world, "--n", str(n), "--out", str(path),
                    "--seed", str(seed)], check=True, capture_output=True)
    return list(read_trajectories(path))


def measure(trajectories: list[Trajectory], backend: OpenAIBackend, template: Path, args: argparse.Namespace) -> dict:
    rules = AgentRulesGrader()
    t0 = time.perf_counter()
    ruled = list(rules.grade(trajectories))
    rules_s = time.perf_counter() - t0
    judge = JudgeGrader(backend, mode="per-action", template=str(template), votes=args.votes,
                        max_tokens=args.max_tokens, too_long="skip", history=4, images=0)
    t0 = time.perf_counter()
    judged = list(judge.grade(ruled))
    judge_s = time.perf_counter() - t0
    consensus = ConsensusGrader("agent-rules", "judge", mode="label")
    t0 = time.perf_counter()
    both = list(consensus.grade(judged))
    cons_s = time.perf_counter() - t0 + rules_s + judge_s
    wrong = sum(1 for t in both for s in t.steps if (x := s.labels.get("truth")) and x.verdict == "incorrect")
    unparsed = sum(1 for t in both for s in t.steps
                   if (x := s.labels.get("judge")) and x.verdict is None and not (x.extra or {}).get("too_long"))
    return {
        "world": f"{both[0].meta.get('world')} (embedded)" if both else None,
        "trajectories": len(both),
        "action_steps": sum(1 for t in both for s in t.steps if s.kind == "action"),
        "truth_incorrect_steps": wrong,
        "judge": {**figures(both, "judge", judge_s), "unparseable_replies": unparsed,
                  "too_long_skipped": judge.counts["too_long"]},
        "agent_rules": figures(both, "agent-rules", rules_s),
        "consensus_agent_rules_and_judge": figures(both, "consensus", cons_s),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--votes", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--gui", type=int, default=0, help="also this many gui-world trajectories")
    args = ap.parse_args()
    policy = embedded_policy_dir()
    if policy is None:
        sys.exit("the embedded policy is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        worlds = [("toolcalc", args.n)] + ([("gui", args.gui)] if args.gui else [])
        sets = {w: sample(w, k, args.seed, Path(tmp)) for w, k in worlds}
        template = Path(tmp) / "judge_compact.txt"
        template.write_text(COMPACT)
        with VLLMServer(vllm_python(ROOT), policy, Path(tmp) / "vllm", startup_timeout=900) as server:
            out = {"judge_model": "embedded policy served by vLLM (CPU): a path test, not a judge-quality figure",
                   "votes": args.votes}
            for w, _ in worlds:
                backend = OpenAIBackend(server.served_name, base_url=server.base_url, concurrency=4, timeout=300,
                                        progress=False)
                out[w] = measure(sets[w], backend, template, args)
    out["command"] = (f"PYTHONPATH=src python benchmarks/judge_agreement.py --n {args.n} --gui {args.gui} "
                      f"--seed {args.seed} --votes {args.votes}")
    text = json.dumps(out, indent=1)
    print(text)
    results = ROOT / "benchmarks" / "results"
    if results.is_dir():
        (results / "judge_agreement.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
