"""File jobs on awkward input: bad records fail with file and line (or are quarantined and
counted), files with odd framing read the same, Parquet rows load in ``datasets``."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from stepsieve._errors import DataError
from stepsieve._manifest import read_manifest
from stepsieve.curate import (
    CurateOptions,
    ExportOptions,
    Grading,
    PairOptions,
    export_file,
    pairs_file,
    pipeline_file,
)
from stepsieve.trajectory import Label, Outcome, Step, Trajectory


def _recs(n_tasks: int = 6, per_task: int = 3, seed: int = 5, agent: bool = False) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for ti in range(n_tasks):
        shared = rng.randint(0, 3)
        for j in range(per_task):
            n = rng.randint(1, 5)
            err = rng.randint(0, n + 1)
            steps = []
            for i in range(n):
                ok = i < err
                k = rng.randint(1, 4) if ok else 0
                labels = {
                    "truth": Label(1.0 if ok else 0.0, "correct" if ok else "incorrect"),
                    "mc": Label(k / 4, "correct" if k else "incorrect", extra={"n": 4, "n_correct": k}),
                }
                text = f"step {i} shared" if i < shared else f"step {i} alt {rng.randint(0, 2)}"
                obs = f"obs {i}" if agent else None
                steps.append(Step(i, text, "action" if agent else "reasoning", obs, None, labels))
            meta = {"task_id": f"t{ti}"} if ti % 3 else {}
            t = Trajectory(
                f"{ti}-{j}", f"Task {ti}", steps, Outcome("1", rng.choice([None, True, False])), None, meta
            )
            out.append(t.to_dict())
    return out


def _write_lines(path: Path, recs: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return path


def test_explicit_null_label_fails_with_file_and_line_and_leaves_nothing(tmp_path):
    recs = _recs()
    del recs[7]["steps"][0]["labels"]["truth"]  # absent: fine
    ok = pairs_file(_write_lines(tmp_path / "ok.jsonl", recs), tmp_path / "c.jsonl", Grading(), PairOptions(),
                    fmt="trl-dpo")  # fmt: skip
    assert ok["in"] == len(recs)
    recs[9]["steps"][0]["labels"]["truth"] = None  # explicit null: rejected
    bad = _write_lines(tmp_path / "bad.jsonl", recs)
    with pytest.raises(DataError) as e:
        pairs_file(bad, tmp_path / "b.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo")
    assert e.value.line == 10 and "bad.jsonl" in str(e.value)
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "b.jsonl.partial").exists()


def test_bad_record_fails_with_file_and_line_or_is_skipped(tmp_path):
    recs = _recs()
    recs[5]["steps"][1]["text"] = 17
    src = _write_lines(tmp_path / "in.jsonl", recs)
    with pytest.raises(DataError) as e:
        export_file(src, tmp_path / "c.jsonl", ExportOptions(format="openai-chat"))
    assert e.value.line == 6 and "in.jsonl" in str(e.value)
    with pytest.raises(DataError) as e:
        pipeline_file(
            src, tmp_path / "a.jsonl", tmp_path / "b.jsonl", Grading(), CurateOptions(), PairOptions()
        )
    assert e.value.line == 6
    counts = pairs_file(
        src, tmp_path / "p.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo", on_error="skip"
    )
    assert counts["in"] == len(recs) and counts["rejected"] == 1 and counts["accepted"] == len(recs) - 1
    assert "engine" not in read_manifest(tmp_path / "p.jsonl").get("extra", {})
    counts = pipeline_file(src, tmp_path / "a.jsonl", tmp_path / "b.jsonl", Grading(), CurateOptions(),
                           PairOptions(), on_error="skip")  # fmt: skip
    c = counts["curate"]
    assert c["in"] == len(recs) == c["out"] + c["rejected"] and counts["rejected_records"] == 1


def test_labels_the_job_does_not_read_are_still_validated(tmp_path):
    recs = _recs()
    for r in recs:  # another grader's label, and free-form meta of mixed types (as worlds write)
        r["steps"][0]["labels"]["judge"] = {"score": 0.5, "verdict": "neutral", "rationale": "ok"}
        r["meta"]["task"] = {"ops": [["+", 3], ["*", 2]], "seed": None}
    pairs_file(_write_lines(tmp_path / "ok.jsonl", recs), tmp_path / "c.jsonl", Grading(), PairOptions(),
               fmt="trl-dpo")  # fmt: skip
    recs[8]["steps"][0]["labels"]["judge"]["verdict"] = "maybe"
    bad = _write_lines(tmp_path / "bad.jsonl", recs)
    with pytest.raises(DataError) as e:
        pairs_file(bad, tmp_path / "b.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo")
    assert e.value.line == 9 and "verdict" in str(e.value)


def test_non_contiguous_task_is_split_only_when_declared_contiguous(tmp_path):
    recs = _recs()
    recs.append(dict(recs[0], id="late"))  # task t0 again at the end
    src = _write_lines(tmp_path / "in.jsonl", recs)
    g, o = Grading("truth"), PairOptions()
    assert pairs_file(src, tmp_path / "a.jsonl", g, o, fmt="trl-dpo")["split_tasks"] == 0
    assert pairs_file(src, tmp_path / "b.jsonl", g, o, fmt="trl-dpo", contiguous=True)["split_tasks"] == 1


@pytest.mark.parametrize("variant", ["empty", "blank_lines", "crlf", "bom", "dup_ids", "int_task_id"])
def test_file_framing_does_not_change_the_rows(tmp_path, variant):
    recs = _recs()
    plain = _write_lines(tmp_path / "plain.jsonl", recs)
    lines = [orjson.dumps(r) for r in recs]
    if variant == "empty":
        lines = []
    elif variant == "blank_lines":
        lines.insert(3, b"")
        lines.insert(7, b"   ")
    elif variant == "dup_ids":
        recs[4]["id"] = recs[3]["id"]
        lines = [orjson.dumps(r) for r in recs]
    elif variant == "int_task_id":
        for r in recs:
            if "task_id" in r["meta"]:
                r["meta"]["task_id"] = int(r["meta"]["task_id"][1:])
        lines = [orjson.dumps(r) for r in recs]
    data = b"".join(x + (b"\r\n" if variant == "crlf" else b"\n") for x in lines)
    src = tmp_path / "in.jsonl"
    src.write_bytes((b"\xef\xbb\xbf" if variant == "bom" else b"") + data)
    g, o, ex = Grading("truth"), PairOptions(), ExportOptions(format="openai-chat")
    got = pairs_file(src, tmp_path / "p.jsonl", g, o, fmt="step-dpo")
    ref = pairs_file(plain, tmp_path / "r.jsonl", g, o, fmt="step-dpo")
    chat = export_file(src, tmp_path / "c.jsonl", ex)
    assert chat["in"] == chat["out"] + chat["rejected"] == len([x for x in lines if x.strip()])
    if variant in ("blank_lines", "crlf", "bom"):
        assert got == ref and (tmp_path / "p.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()
    elif variant == "empty":
        assert got["in"] == got["out"] == 0 and (tmp_path / "p.jsonl").read_bytes() == b""


def test_parquet_rows_load_in_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    src = _write_lines(tmp_path / "in.jsonl", _recs(agent=True))
    pairs_file(src, tmp_path / "sdpo.parquet", Grading("truth"), PairOptions(), fmt="step-dpo")
    export_file(src, tmp_path / "sft.parquet", ExportOptions(format="trl-sft"))
    for name in ("sdpo.parquet", "sft.parquet"):
        ds = datasets.load_dataset(
            "parquet", data_files=str(tmp_path / name), split="train", cache_dir=str(tmp_path / "hf")
        )
        assert ds.num_rows == pq.read_table(tmp_path / name).num_rows > 0
        assert ds[0] == pq.read_table(tmp_path / name).slice(0, 1).to_pylist()[0]
