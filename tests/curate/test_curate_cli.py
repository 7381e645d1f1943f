"""The four verbs end to end: files in, files + manifests out, counts that add up."""

import hashlib

import orjson
import pytest
from helpers_curate import traj
from typer.testing import CliRunner

from stepsieve import DataError, __version__
from stepsieve._manifest import read_manifest
from stepsieve.cli import app
from stepsieve.curate import CurateOptions, Grading, curate_file
from stepsieve.formats import read_trajectories
from stepsieve.trajectory import Label

runner = CliRunner()


def _graded(path, bad_line=False):
    ts = [
        traj(
            "w",
            ["correct", "incorrect", "incorrect"],
            texts=["a", "bad", "worse"],
            mc=[(4, 2), (4, 0), (4, 0)],
            correct=False,
        ),
        traj(
            "ok",
            ["correct", "correct", "correct"],
            texts=["a", "good", "done"],
            mc=[(4, 2), (4, 4), (4, 4)],
            correct=True,
        ),
        traj(
            "z", ["incorrect", "correct"], texts=["zz", "y"], mc=[(4, 0), (4, 1)], correct=False, task="other"
        ),
    ]
    lines = [orjson.dumps(t.to_dict()) for t in ts]
    if bad_line:
        lines.insert(1, b'{"id": "broken", "task": "q", "steps": []}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def invoke(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (r.output, r.exception)
    return orjson.loads(r.output.splitlines()[-2])


def test_curate_skip_quarantines_and_counts_add_up(tmp_path):
    src = _graded(tmp_path / "g.jsonl", bad_line=True)
    out = tmp_path / "sft.jsonl"
    counts = invoke("curate", src, "-o", out, "--mode", "truncate", "--on-error", "skip", "-q")
    assert counts["in"] == 4 and counts["out"] == 2 and counts["rejected"] == 2
    assert counts["in"] == counts["out"] + counts["rejected"]
    assert counts["rejected_by_reason"] == {"error_at_first_step": 1}
    assert [len(t.steps) for t in read_trajectories(out)] == [1, 3]
    rej = [orjson.loads(x) for x in (tmp_path / "sft.jsonl.rejected.jsonl").read_bytes().splitlines()]
    assert rej[0]["line"] == 2 and "empty step list" in rej[0]["reason"]
    m = read_manifest(out)
    assert m["verb"] == "curate" and m["stepsieve_version"] == __version__ and m["labels"] == ["truth"]
    assert m["inputs"][0]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert m["options"]["curate"]["mode"] == "truncate" and m["counts"] == counts


def test_bad_record_raises_with_file_and_line(tmp_path):
    src = _graded(tmp_path / "g.jsonl", bad_line=True)
    with pytest.raises(DataError, match=r"g\.jsonl:2: .*empty step list"):
        curate_file(src, tmp_path / "o.jsonl", Grading(), CurateOptions())
    assert not (tmp_path / "o.jsonl").exists()


def test_pairs_then_export_step_dpo_parquet_loads_in_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = _graded(tmp_path / "g.jsonl")
    pairs = tmp_path / "pairs.jsonl"
    counts = invoke("pairs", src, "-o", pairs, "--margin", "0.5", "-q")
    assert counts["in"] == 3 and counts["tasks"] == 2
    recs = [orjson.loads(x) for x in pairs.read_bytes().splitlines()]
    # the sibling pair at fork "a" is the same pair as the Step-DPO one: kept once
    assert [(r["source"], r["chosen"], r["rejected"]) for r in recs] == [("first_error", "good", "bad")]
    assert counts["duplicates"] == 1 and counts["out"] == 1
    out = tmp_path / "sdpo.parquet"
    counts = invoke("export", pairs, "-o", out, "--format", "step-dpo", "-q")
    assert counts == {"in": 1, "out": 1, "rejected": 0, "rejected_records": 0, "rejected_by_reason": {}}
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds[0]["initial_reason_steps"] == "a\n" and ds[0]["full_rejected"] == "bad\nworse"
    assert read_manifest(out)["inputs"][0]["path"] == str(pairs)


def test_pairs_direct_to_trl_dpo(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    out = tmp_path / "dpo.jsonl"
    invoke("pairs", src, "-o", out, "--format", "trl-dpo", "--kinds", "first_error", "-q")
    assert [orjson.loads(x) for x in out.read_bytes().splitlines()] == [
        {"prompt": "q\na\n", "chosen": "good", "rejected": "bad"}
    ]


def test_credit_writes_advantage_labels(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    out = tmp_path / "c.jsonl"
    counts = invoke("credit", src, "-o", out, "--method", "progress", "-q")
    assert counts["in"] == counts["out"] == 3 and counts["tasks"] == 2
    ts = {t.id: t for t in read_trajectories(out)}
    assert ts["ok"].steps[1].labels["advantage"].score == pytest.approx(0.5)  # 1.0 - V(a)=0.5
    assert ts["z"].steps[0].labels["advantage"].extra["kind"] == "advantage"


def test_export_chat_from_curated_and_stepwise(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    cur = tmp_path / "m.jsonl"
    invoke("curate", src, "-o", cur, "-q")
    out = tmp_path / "ft.jsonl"
    counts = invoke("export", cur, "-o", out, "--format", "openai-chat", "-q")
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert counts["out"] == 2 and [m.get("weight") for m in rows[0]["messages"]] == [None, 1, 0]
    out = tmp_path / "prm.parquet"
    counts = invoke("export", src, "-o", out, "--format", "trl-stepwise", "--label", "mc", "--soft", "-q")
    assert counts["out"] == 3


def test_pair_export_of_a_trajectory_file_names_file_and_line(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    r = runner.invoke(app, ["export", str(src), "-o", str(tmp_path / "x.jsonl"), "--format", "trl-dpo", "-q"])
    assert isinstance(r.exception, DataError) and "g.jsonl:1: not a step pair" in str(r.exception)


@pytest.mark.parametrize("verb", ["curate", "pairs", "credit", "export"])
def test_help_ends_with_runnable_examples(verb):
    r = runner.invoke(app, [verb, "--help"])
    tail = r.output.strip().splitlines()[-1]
    assert "stepsieve" in r.output.split("Examples:")[-1] and "Examples:" in r.output
    assert tail.strip() and "Options" not in tail


def test_threshold_labels_recorded(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    t = next(read_trajectories(src))
    assert isinstance(t.steps[0].labels["mc"], Label)
    out = tmp_path / "o.jsonl"
    invoke("curate", src, "-o", out, "--label", "mc", "--threshold", "0.5", "--mode", "truncate", "-q")
    m = read_manifest(out)
    assert m["labels"] == ["mc"] and m["options"]["grading"] == {"label": "mc", "threshold": 0.5}


def test_curated_parquet_round_trips_through_the_shared_reader(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    out = tmp_path / "m.parquet"
    counts = invoke("curate", src, "-o", out, "--mode", "mask", "-q")
    ts = list(read_trajectories(out))
    assert len(ts) == counts["out"] == 2
    assert [s.labels["curate"].score for s in ts[0].steps] == [1.0, 0.0, 0.0]


def test_export_openai_chat_to_parquet_is_refused_with_the_reason(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    r = runner.invoke(app, ["export", str(src), "-o", str(tmp_path / "ft.parquet"), "--format", "openai-chat", "-q"])
    assert r.exit_code != 0 and not (tmp_path / "ft.parquet").exists()
    assert "JSONL upload format" in str(r.exception) and "trl-sft" in str(r.exception)
    counts = invoke("export", src, "-o", tmp_path / "sft.parquet", "--format", "trl-sft", "--turns", "step", "-q")
    assert counts["out"] >= 1


def test_old_after_error_values_are_refused(tmp_path):
    src = _graded(tmp_path / "g.jsonl")
    r = runner.invoke(app, ["export", str(src), "-o", str(tmp_path / "p.jsonl"), "--format", "trl-stepwise",
                            "--after-error", "drop", "-q"])
    assert r.exit_code != 0 and "incorrect, skip" in str(r.exception)
