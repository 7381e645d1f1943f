"""The report renders every section from a full run directory, self-contained."""

from __future__ import annotations

import base64
import json
import re

import orjson
import pytest
from typer.testing import CliRunner

from stepsieve import DataError
from stepsieve.report import SECTIONS, load_run, write_report
from stepsieve.trajectory import Label, Step, Trajectory


def _traj(i: int) -> Trajectory:
    truth_fe = [-1, 1, 2, 0][i % 4]
    mc_fe = truth_fe if i % 5 else -1
    steps = []
    for j in range(4):
        def verdict(fe, j=j):
            return "correct" if fe == -1 or j < fe else ("incorrect" if j == fe else None)
        p = 0.9 if truth_fe == -1 or j < truth_fe else 0.2
        steps.append(Step(j, f"step {j}", labels={
            "truth": Label(1.0 if verdict(truth_fe) == "correct" else 0.0, verdict(truth_fe)),
            "mc": Label(None, verdict(mc_fe)),
            "prm": Label(p, "correct" if p >= 0.5 else "incorrect"),
        }))
    t = Trajectory(f"t{i}", "task", steps)
    t.outcome.correct = truth_fe == -1
    return t


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "run"
    (d / "steprm").mkdir(parents=True)
    (d / "graded.jsonl").write_bytes(b"".join(orjson.dumps(_traj(i).to_dict()) + b"\n" for i in range(40)))
    (d / "search.json").write_text(json.dumps({
        "tasks": 10, "ns": [1, 4, 16], "policy_accuracy": 0.4, "tokens_per_sample": 60.0,
        "curves": {"majority": {"1": 0.4, "4": 0.5, "16": 0.55},
                   "weighted_majority:min": {"1": 0.4, "4": 0.6, "16": 0.7},
                   "oracle": {"1": 0.4, "4": 0.8, "16": 0.95}},
        "step_search": {"beam_4x4": {"accuracy": 0.66, "tokens_per_task": 900.0, "equal_token_n": 15.0, "nearest_n": 16,
                                     "at_nearest_n": {"majority": 0.55, "weighted_majority:min": 0.7}}},
    }))
    (d / "steprm" / "stepsieve_prm.json").write_text(json.dumps({
        "base": "policy", "label": "mc", "soft": True, "threshold": 0.45, "separator": "\n",
        "training": {"examples": 100, "final_loss": 0.3, "loss_curve": [[0, 0.69], [10, 0.5], [20, 0.3]]}}))
    (d / "summary.json").write_text(json.dumps({"stages": [{"name": "sample", "seconds": 12.5}]}))
    return d


def test_every_section_renders_self_contained(run_dir):
    path = write_report(run_dir)
    text = path.read_text()
    for sec in SECTIONS:
        m = re.search(rf'<section id="{sec}">(.*?)</section>', text, re.S)
        assert m, sec
        assert "Not in this run" not in m.group(1), sec
        if sec != "overview":
            assert "data:image/png;base64," in m.group(1), sec
    assert "<script" not in text.lower()
    assert "http://" not in text and "https://" not in text
    assert "<link" not in text.lower()
    # Each inline PNG decodes to a real PNG.
    for b64 in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text):
        assert base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n"
    # The graders' figures come from stepsieve.evaluate against truth: prm (perfect here) has F1 1.
    run = load_run(run_dir)
    assert run.evals["prm"]["processbench"]["average_f1"] == pytest.approx(1.0)
    assert run.evals["mc"]["processbench"]["average_f1"] < 1.0
    assert "beam_4x4" in text and "weighted_majority:min" in text


def test_partial_run_says_what_is_missing(tmp_path):
    text = write_report(tmp_path).read_text()
    assert text.count("Not in this run") == len(SECTIONS)


def test_malformed_file_names_the_file(run_dir):
    (run_dir / "eval.json").write_text('{"prm": {"processbench": {}}}')
    with pytest.raises(DataError, match=r"eval.json:1: missing key\(s\) \['cost'\]"):
        load_run(run_dir)
    (run_dir / "eval.json").write_text('{"prm": \n oops}')
    with pytest.raises(DataError, match=r"eval.json:2: malformed JSON"):
        load_run(run_dir)


def test_cli_report(run_dir, tmp_path):
    from stepsieve.cli import app

    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(out) and out.stat().st_size > 10_000


def test_the_report_knows_every_steprm_config_name():
    """The report reads a run's StepRM by the config file names the prm package writes."""
    from stepsieve.prm import CONFIG_NAME, VLM_CONFIG_NAME
    from stepsieve.prm.vision import VISION_CONFIG_NAME
    from stepsieve.report._rundir import STEPRM_CONFIGS

    assert set(STEPRM_CONFIGS) == {CONFIG_NAME, VISION_CONFIG_NAME, VLM_CONFIG_NAME}
