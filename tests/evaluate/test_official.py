"""Parity with ProcessBench's run_eval.py and PRMBench's scorer, on small prediction files in
each official layout; every expected figure is the official formula computed by hand here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import run_cli as _cli

from stepsieve.evaluate import evaluate, prmbench_predictions, prmbench_score, processbench_predictions
from stepsieve.formats import read_trajectories
from stepsieve.trajectory import Label, Step, Trajectory


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _hm(a: float, b: float) -> float:
    return 2 * a * b / (a + b)


@pytest.fixture
def pb_outputs(tmp_path: Path) -> list[Path]:
    def item(i: str, label: int, pred) -> dict:
        return {"id": i, "problem": "p", "steps": ["a", "b", "c"], "label": label, "prediction": pred,
                "generated_critique": "...", "match": pred == label}

    return [
        _jsonl(tmp_path / "gsm8k_error.jsonl",
               [item("gsm8k-0", 1, 1), item("gsm8k-1", 2, 0), item("gsm8k-2", 0, None)]),
        _jsonl(tmp_path / "gsm8k_correct.jsonl", [item("gsm8k-3", -1, -1), item("gsm8k-4", -1, 2)]),
        _jsonl(tmp_path / "math_error.jsonl", [item("math-0", 2, 2)]),
        _jsonl(tmp_path / "math_correct.jsonl", [item("math-1", -1, -1), item("math-2", -1, -1)]),
    ]


def test_processbench_prediction_files_per_split_and_mean(pb_outputs):
    rep = processbench_predictions(pb_outputs)
    gsm = _hm(1 / 3, 1 / 2)  # run_eval.py: acc1 = mean(match) on *_error, acc2 on *_correct
    math = _hm(1.0, 1.0)
    assert rep["splits"]["gsm8k"]["f1"] == pytest.approx(gsm)
    assert rep["splits"]["math"]["f1"] == pytest.approx(math)
    assert rep["average_f1"] == pytest.approx((gsm + math) / 2)


def test_evaluate_averages_per_split_not_pooled():
    def traj(tid: str, split: str, first: int, flag: int | None) -> Trajectory:
        steps = []
        for i in range(3):
            truth = None if first != -1 and i > first else Label(1.0 if i != first else 0.0,
                                                                  "correct" if i != first else "incorrect")
            lab = {"truth": truth} if truth else {}
            lab["g"] = Label(0.0 if i == flag else 1.0, "incorrect" if i == flag else "correct")
            steps.append(Step(i, "s", labels=lab))
        return Trajectory(tid, "p", steps, meta={"split": split})

    ts = [traj("a", "gsm8k", 1, 1), traj("b", "gsm8k", -1, None), traj("c", "math", 0, None),
          traj("d", "math", 2, 2), traj("e", "math", -1, 0)]
    rep = evaluate(ts, "g")
    assert rep["processbench"]["splits"]["gsm8k"]["f1"] == pytest.approx(1.0)
    assert rep["processbench"]["splits"]["math"]["f1"] == 0.0  # acc_correct 0
    assert rep["processbench"]["average_f1"] == pytest.approx(0.5)


def _prm_item(idx: str, n: int, errors: list[int], cls: str) -> dict:
    return {"original_question": "q", "modified_question": "q", "original_process": ["o1", "o2"],
            "modified_process": [f"s{i}" for i in range(n)], "modified_steps": errors, "error_steps": errors,
            "reason": "r", "idx": idx, "question": "q", "classification": cls}


def test_prmbench_prediction_file_scored_like_the_official_scorer(tmp_path):
    ref = _jsonl(tmp_path / "ref.jsonl", [
        _prm_item("p1_0", 4, [2, 3], "counterfactual"),
        _prm_item("p1_1", 3, [1, 7], "counterfactual"),  # 7: beyond the steps, ignored
        _prm_item("p1_2", 3, [3], "redundency"),
    ])
    preds = _jsonl(tmp_path / "preds.jsonl", [
        {"idx": "counterfactual_p1_0", "scores": {"step_level_validity_labels": [True, False, True, True]}},
        {"idx": "counterfactual_p1_1", "scores": {"step_level_validity_labels": [False, True, False]}},
        # a repeated id: the scorer keeps the first
        {"idx": "counterfactual_p1_1", "scores": {"step_level_validity_labels": [True, True, True]}},
        {"idx": "redundency_p1_2", "scores": {"step_level_validity_labels": [True, True, True],
                                              "step_level_redundancy_labels": [False, False, True]}},
        {"idx": "correct_p1_2", "scores": {"step_level_validity_labels": [True, False]}},
        {"idx": "counterfactual_zz", "scores": {}, "validity": False},
    ])
    rep = prmbench_predictions(list(read_trajectories(ref, "prmbench")), [preds])
    # by hand: p1_0 errors {1,2}: TP 1 (s0), FN 0, TN 1 (s1), FP 1 (s2), s3 TP -> TP 2, FP 1, TN 1, FN 0
    #          p1_1 errors {0}:  s0 TN, s1 TP, s2 FN              -> TP 1, FP 0, TN 1, FN 1
    #          p1_2 redundancy labels inverted [T, T, F], errors {2}: TP 2, TN 1
    cf = rep["categories"]["counterfactual"]
    assert (cf["tp"], cf["fp"], cf["tn"], cf["fn"]) == (3, 1, 2, 1)
    f1, nf1 = _hm(3 / 4, 3 / 4), _hm(2 / 3, 2 / 3)
    assert cf["prm_score"] == pytest.approx(0.5 * f1 + 0.5 * nf1)
    tp, fp, tn, fn = 5, 1, 3, 1  # overall: every category but "correct"
    overall = 0.5 * _hm(tp / (tp + fp), tp / (tp + fn)) + 0.5 * _hm(tn / (tn + fn), tn / (tn + fp))
    assert rep["overall"]["prm_score"] == pytest.approx(overall)
    assert rep["categories"]["correct"]["fn"] == 1 and rep["categories"]["correct"]["items"] == 1
    assert rep["out_of_range_error_steps"] == {"items": 1, "indices": 1}
    assert rep["predictions"] == {"scored": 4, "invalid": 0, "unmatched": 1}


def test_prmbench_score_of_a_label_abstentions_count_as_not_flagged(tmp_path):
    ref = _jsonl(tmp_path / "ref.jsonl", [_prm_item("a", 3, [2], "deception")])
    (t,) = read_trajectories(ref, "prmbench")
    t.steps[1].labels["g"] = Label(0.0, "incorrect")
    t.steps[2].labels["g"] = Label(0.0, "incorrect")
    rep = prmbench_score([t], "g")
    c = rep["overall"]
    assert (c["tp"], c["fp"], c["tn"], c["fn"]) == (1, 0, 1, 1)




def test_cli_eval_reads_official_predictions_and_writes_a_manifest(pb_outputs, tmp_path, capsys):
    out = tmp_path / "rep.json"
    args: list[object] = ["eval", "--format", "processbench", "-o", out]
    for p in pb_outputs:
        args += ["--predictions", p]
    code, stdout, err = _cli(args, capsys)
    assert code == 0, err
    assert "gsm8k" in err and "mean F1 over 2 split(s)" in err
    assert json.loads(stdout)["predictions"]["average_f1"] == pytest.approx((_hm(1 / 3, 1 / 2) + 1) / 2)
    man = json.loads((tmp_path / "rep.json.manifest.json").read_text())
    assert man["verb"] == "eval" and len(man["inputs"]) == 4
    assert all(len(i["sha256"]) == 64 for i in man["inputs"])


def test_cli_convert_and_grade_write_manifests(tmp_path, capsys):
    src = Path(__file__).parents[1] / "fixtures" / "processbench_gsm8k_sample.json"
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert _cli(["convert", src, a, "--from", "processbench"], capsys)[0] == 0
    assert _cli(["grade", a, b, "--grader", "rules", "-q"], capsys)[0] == 0
    ma = json.loads((tmp_path / "a.jsonl.manifest.json").read_text())
    mb = json.loads((tmp_path / "b.jsonl.manifest.json").read_text())
    assert ma["verb"] == "convert" and ma["counts"]["out"] == 24 and ma["options"]["from"] == "processbench"
    assert mb["verb"] == "grade" and mb["labels"] == ["rules"] and mb["counts"]["graded"] == 24
    code, _, err = _cli(["eval", b, "--label", "rules"], capsys)
    assert code == 0 and "rules gsm8k:" in err
