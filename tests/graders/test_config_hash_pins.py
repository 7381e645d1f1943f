"""Configuration hashes written before graders declared Options, pinned: outputs labelled
then must keep resuming. Values computed from the code at main 41d7ebf (before issue 13)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepsieve.cli import app
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.graders import (
    ConsensusGrader,
    GradeContext,
    JudgeGrader,
    MCGrader,
    ProgressGrader,
    RulesGrader,
    build_grader,
)
from stepsieve.trajectory import Cost, Label, Step, Trajectory
from stepsieve.worlds import get_world

sys.path.insert(0, str(Path(__file__).parent))
from _fakes import ScriptedBackend, ToyWorld

PINNED = {
    "rules": "2cced773ee50",
    "rules_noclaims": "8e3f1b43c2a8",
    "mc_toy": "0620fe16d7c0",
    "mc_math_default": "aaebaa68de02",
    "mc_arith_robust": "ccda263e328c",
    "mc_toolcalc": "192a72392d09",
    "judge_default": "31dd8708db12",
    "judge_votes": "d122e889ec87",
    "judge_perstep": "ef3af87f3290",
    "consensus": "1e7ddb9f7c77",
    "consensus_label": "1eef033947b0",
    "consensus_rules": "8f3d48e32ef5",
    "progress": "3d5b66e42c7e",
    "progress_root": "ccdc1c5c8889",
}


class JudgeBackend:
    name = "scripted"
    model = "judge-script"

    def __init__(self) -> None:
        self.cost = Cost()


def build(case: str):
    be = ScriptedBackend()
    return {
        "rules": RulesGrader,
        "rules_noclaims": lambda: RulesGrader(name="r2", claims=False),
        "mc_toy": lambda: MCGrader(be, ToyWorld(), n=4, mode="first-error"),
        "mc_math_default": lambda: MCGrader(be),
        "mc_arith_robust": lambda: MCGrader(be, get_world("arith"), n=16, mode="first-error", rollout_check="rules",
                                            confirm=True, recheck=16, keep_rollouts=True),
        "mc_toolcalc": lambda: MCGrader(be, get_world("toolcalc"), n=2, threshold=0.25, extend=4, root=True, seed=3,
                                        temperature=0.7, max_tokens=64, name="mcx"),
        "judge_default": lambda: JudgeGrader(JudgeBackend()),
        "judge_votes": lambda: JudgeGrader(JudgeBackend(), votes=5, max_tokens=256, seed=2),
        "judge_perstep": lambda: JudgeGrader(JudgeBackend(), mode="per-step", temperature=0.3, name="j2"),
        "consensus": ConsensusGrader,
        "consensus_label": lambda: ConsensusGrader("mc", "judge", mode="label", name="c2"),
        "consensus_rules": lambda: ConsensusGrader(RulesGrader(), "truth"),
        "progress": ProgressGrader,
        "progress_root": lambda: ProgressGrader(source="mcx", name="p2", root=0.5, margin=0.1),
    }[case]()


@pytest.mark.parametrize("case", sorted(PINNED))
def test_library_graders_keep_their_hashes(case):
    assert build(case)._ref.hash == PINNED[case]


def test_options_built_from_strings_keep_the_hashes():
    ctx = GradeContext(backend=ScriptedBackend)
    g = build_grader("mc", {"world": "arith", "n": "16", "mode": "first-error", "rollout_check": "rules",
                            "confirm": "true", "recheck": "16", "keep_rollouts": "yes"}, ctx)
    assert g._ref.hash == PINNED["mc_arith_robust"]
    g = build_grader("mc", {"world": "toolcalc", "n": "2", "threshold": "0.25", "extend": "4", "root": "1",
                            "seed": "3", "temperature": ".7", "max_tokens": "64"}, GradeContext("mcx", ScriptedBackend))
    assert g._ref.hash == PINNED["mc_toolcalc"]
    assert build_grader("mc", {}, ctx)._ref.hash == PINNED["mc_math_default"]  # no records: the math world
    assert build_grader("rules", {"claims": "off"}, GradeContext("r2"))._ref.hash == PINNED["rules_noclaims"]
    judge = GradeContext(backend=JudgeBackend, default_model=False)
    votes = build_grader("judge", {"votes": "5", "max_tokens": "256", "seed": "2"}, judge)
    assert votes._ref.hash == PINNED["judge_votes"]
    assert build_grader("consensus", {"mode": "label"}, GradeContext("c2"))._ref.hash == PINNED["consensus_label"]


def test_a_new_option_enters_the_hash_only_when_set():
    base = MCGrader(ScriptedBackend(), ToyWorld(), n=4, mode="first-error")
    assert "recheck" not in base.config and base._ref.hash == PINNED["mc_toy"]
    changed = MCGrader(ScriptedBackend(), ToyWorld(), n=4, mode="first-error", recheck=2)
    assert changed.config["recheck"] == 2 and changed._ref.hash != PINNED["mc_toy"]


def test_the_cli_writes_the_pinned_hashes(tmp_path):
    src = tmp_path / "in.jsonl"
    steps = [
        Step(0, "2 + 2 = 4", labels={"mcx": Label(0.5, "correct")}),
        Step(1, "4 * 3 = 12", labels={"mcx": Label(1.0)}),
    ]
    write_trajectories([Trajectory("t", "q", steps)], src)
    runner = CliRunner()
    r = runner.invoke(app, ["grade", str(src), str(tmp_path / "r.jsonl"), "--grader", "rules", "-q"])
    assert r.exit_code == 0, r.output
    (t,) = read_trajectories(tmp_path / "r.jsonl")
    assert t.steps[0].labels["rules"].grader.hash == PINNED["rules"]
    r = runner.invoke(app, ["grade", str(src), str(tmp_path / "p.jsonl"), "--grader", "progress", "--label", "p2",
                            "--source", "mcx", "--root-value", "0.5", "--margin", "0.1", "-q"])
    assert r.exit_code == 0, r.output
    (t,) = read_trajectories(tmp_path / "p.jsonl")
    assert t.steps[0].labels["p2"].grader.hash == PINNED["progress_root"]
    assert t.steps[0].labels["p2"].score == 0.0 and json.loads(r.stdout.splitlines()[-1])["graded"] == 1
