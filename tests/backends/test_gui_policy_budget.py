"""``--max-cost`` holds for the embedded gui policy as for every other backend: mc grading of
gui runs stops before the call that would cross the cap, with what is written kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/_cli.py
from _cli import run_cli

from stepsieve._errors import BudgetExceeded
from stepsieve.backends import Budget
from stepsieve.backends.gui_policy import GuiPolicyBackend


def test_the_gui_policy_charges_its_budget_before_each_call():
    be = GuiPolicyBackend(budget=Budget(max_requests=3))
    prompt = "Task: Buy one red mug.\nScreen: shop\n"
    be.generate([prompt, prompt], n=2)
    assert (be.budget.requests, be.budget.tokens) == (2, 4)
    with pytest.raises(BudgetExceeded, match="2 of 3 requests spent"):
        be.generate([prompt, prompt])
    assert be.cost.calls == 2  # the refused call was never made


def test_cli_mc_on_gui_runs_stops_at_max_cost(tmp_path, capsys):
    src, out = tmp_path / "g.jsonl", tmp_path / "mc.jsonl"
    code, _, err = run_cli(["sample", "--world", "gui", "--n", "3", "--ops", "5-6", "--seed", "4", "--out", src],
                           capsys)
    assert code == 0, err
    code, _, err = run_cli(["grade", src, out, "--grader", "mc", "--backend", "gui-policy", "--mode", "every-step",
                            "--n", "2", "--batch-size", "1", "--max-cost", "requests=20", "-q"], capsys)
    assert code != 0 and "budget exceeded" in err and "Traceback" not in err, err
