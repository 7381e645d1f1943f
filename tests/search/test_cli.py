"""``stepsieve search`` end to end on real components: a random tiny Llama policy through the
transformers backend, the arith world, and a StepRM loaded from a checkpoint directory."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stepsieve.prm import StepRM, StepRMConfig


def test_search_cli_writes_every_strategy(tmp_path):
    from stepsieve.backends._tiny_model import build_tiny_llama
    from stepsieve.cli import app

    policy = build_tiny_llama(tmp_path / "policy", hidden_size=32, layers=1, intermediate_size=64)
    StepRM.from_base(policy, StepRMConfig(label="mc")).save(tmp_path / "rm")
    out = tmp_path / "run" / "search.json"
    res = CliRunner().invoke(app, [
        "search", "--tasks", "2", "--max-tokens", "24", "--max-steps", "3", "--max-step-tokens", "12",
        "--knob", "ops=2-3", "--model", str(policy), "--prm", str(tmp_path / "rm"),
        "--n", "1,2", "--beam", "1x2", "--greedy-expand", "2", "--repeats", "2", "--out", str(out),
    ])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["tasks"] == 2 and data["knobs"] == {"ops": [2, 3]}
    for name in ("majority", "best_of_n:min", "best_of_n:prod", "best_of_n:last", "best_of_n:mean",
                 "weighted_majority:min", "oracle"):
        assert set(data["curves"][name]) == {"1", "2"}
    assert set(data["step_search"]) == {"beam_1x2", "greedy_x2"}
    assert data["step_search"]["beam_1x2"]["tokens_per_task"] > 0


def test_search_cli_rejects_bad_options(tmp_path):
    from stepsieve.cli import app

    res = CliRunner().invoke(app, ["search", "--knob", "ops", "--out", str(tmp_path / "s.json")])
    assert res.exit_code != 0 and "KEY=VALUE" in str(res.exception)
