"""ProcessBench and PRMBench adapters behave as the official scorers read the files."""

from __future__ import annotations

import json

import orjson
import pytest

from stepsieve._errors import DataError
from stepsieve.formats import read_trajectories, write_trajectories


def _prm(idx: str, n_steps: int, errors: list[int], cls: str = "counterfactual") -> dict:
    return {"original_question": "q", "modified_question": "q", "original_process": ["a"],
            "modified_process": [f"step {i}" for i in range(n_steps)], "modified_steps": errors,
            "error_steps": errors, "reason": "r", "idx": idx, "question": "q", "classification": cls}


def test_prmbench_out_of_range_error_steps_ignored_counted_and_strict(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(json.dumps(_prm("a", 3, [2, 5])) + "\n")
    (t,) = read_trajectories(p, "prmbench")
    assert [s.labels["truth"].verdict for s in t.steps] == ["correct", "incorrect", "correct"]
    assert t.meta["prmbench"]["out_of_range"] == [5]
    with pytest.raises(DataError, match=r"outside steps 1\.\.3"):
        list(read_trajectories(p, "prmbench", strict="true"))


def test_prmbench_error_steps_order_and_out_of_range_survive_a_round_trip(tmp_path):
    p, q = tmp_path / "p.jsonl", tmp_path / "q.jsonl"
    p.write_text(json.dumps(_prm("a", 4, [3, 1, 9])) + "\n")
    write_trajectories(read_trajectories(p, "prmbench"), q, "prmbench")
    assert orjson.loads(q.read_bytes())["error_steps"] == [3, 1, 9]
    # a label that changed is written from the label (sorted, in range)
    (t,) = read_trajectories(p, "prmbench")
    t.steps[2].labels["truth"] = t.steps[1].labels["truth"]  # step 3 (1-based) now correct
    write_trajectories([t], q, "prmbench")
    assert orjson.loads(q.read_bytes())["error_steps"] == [1]


def test_processbench_split_from_id_or_option(tmp_path):
    items = [{"id": "gsm8k-3", "problem": "p", "steps": ["a"], "label": -1},
             {"id": "olympiadbench-7", "problem": "p", "steps": ["a"], "label": 0},
             {"id": "x", "problem": "p", "steps": ["a"], "label": 0}]
    p = tmp_path / "pb.json"
    p.write_text(json.dumps(items))
    splits = [t.meta.get("split") for t in read_trajectories(p, "processbench")]
    assert splits == ["gsm8k", "olympiadbench", None]
    assert {t.meta["split"] for t in read_trajectories(p, "processbench", split="math")} == {"math"}
