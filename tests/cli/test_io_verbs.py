"""``stepsieve convert`` / ``inspect`` end to end: real files, real entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from _cli import run_cli as run

from stepsieve.formats import read_trajectories

FIX = Path(__file__).parent.parent / "fixtures"
PB = FIX / "processbench_gsm8k_sample.json"




def test_convert_processbench_to_parquet_and_back(tmp_path, capsys):
    code, out, _ = run(["convert", PB, tmp_path / "pb.parquet", "--from", "processbench"], capsys)
    assert code == 0 and out.strip() == "24 read, 24 written, 0 rejected"
    code, out, _ = run(["convert", tmp_path / "pb.parquet", tmp_path / "pb.json", "--to", "processbench"], capsys)
    assert code == 0 and json.loads((tmp_path / "pb.json").read_text()) == json.loads(PB.read_text())


def test_convert_with_format_options(tmp_path, capsys):
    src = FIX / "prm800k_constructed.jsonl"
    code, _, _ = run(["convert", src, tmp_path / "o.jsonl", "--from", "prm800k", "--in-opt", "neutral=correct"], capsys)
    assert code == 0
    t = next(read_trajectories(tmp_path / "o.jsonl"))
    assert t.steps[2].labels["truth"].verdict == "correct"


def test_inspect_json_summary(capsys):
    code, out, _ = run(["inspect", PB, "--from", "processbench", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and (d["trajectories"], d["steps"]) == (24, 123)
    assert d["outcomes"] == {"incorrect": 12, "correct": 12}
    fe = d["labels"]["truth"]["first_error"]
    assert fe["-1"] == 12 and sum(fe.values()) == 24


def test_inspect_tables(capsys):
    code, out, _ = run(["inspect", PB, "--from", "processbench"], capsys)
    assert code == 0
    for needle in ("trajectories", "labels per grader", "first error (truth)", "truth"):
        assert needle in out


GOOD = b'{"id": "a", "task": "q", "steps": [{"text": "s"}]}'
BAD = {
    "malformed JSON": (GOOD + b"\n{oops\n", 2, "malformed JSON"),
    "missing field": (GOOD + b'\n{"id": "b", "task": "q"}\n', 2, "missing required field `steps`"),
    "wrong type": (b'{"id": "a", "task": 7, "steps": [{"text": "s"}]}\n', 1, "got `int` - at `$.task`"),
    "empty step list": (GOOD + b'\n{"id": "b", "task": "q", "steps": []}\n', 2, "empty step list"),
    "non-UTF-8": (GOOD + b'\n{"id": "b", "task": "\xff\xfe", "steps": [{"text": "s"}]}\n', 2, "invalid UTF-8"),
    "truncated final line": (GOOD + b"\n" + GOOD[:25], 2, "truncated final line"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_error_line(tmp_path, capsys, case):
    data, line, reason = BAD[case]
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    code, _out, err = run(["convert", src, tmp_path / "out.jsonl"], capsys)
    assert code == 2
    assert err.startswith(f"error: {src}:{line}: ") and reason in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_skipped_and_quarantined(tmp_path, capsys, case):
    data, line, reason = BAD[case]
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    code, out, _ = run(["convert", src, tmp_path / "out.jsonl", "--on-error", "skip"], capsys)
    n = data.count(b"\n") + (not data.endswith(b"\n"))
    assert code == 0 and out.strip() == f"{n} read, {n - 1} written, 1 rejected"
    rej = [orjson.loads(x) for x in (tmp_path / "out.jsonl.rejected.jsonl").read_bytes().splitlines()]
    assert len(rej) == 1 and rej[0]["line"] == line and reason in rej[0]["reason"]
    assert len(list(read_trajectories(tmp_path / "out.jsonl"))) == n - 1


def test_unknown_format_is_one_error_line(tmp_path, capsys):
    code, _, err = run(["convert", PB, tmp_path / "x.jsonl", "--from", "processbnech"], capsys)
    assert code == 2 and err.startswith("error: unknown format 'processbnech'; did you mean 'processbench'?")


def test_console_script_prints_no_traceback(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD + b"\n{oops\n")
    exe = Path(sys.executable).with_name("stepsieve")
    r = subprocess.run([str(exe), "inspect", str(src)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {src}:2: malformed JSON") and "Traceback" not in r.stderr


@pytest.mark.parametrize("verb", [["curate", "--label", "mc"], ["pairs", "--label", "mc"],
                                  ["credit", "--value-label", "mc"], ["export", "--format", "openai-chat"]])
def test_a_missing_input_is_one_error_line_in_every_data_verb(tmp_path, capsys, verb):
    missing = tmp_path / "graded.jsonl"
    code, _, err = run([verb[0], missing, "-o", tmp_path / "out.jsonl", *verb[1:]], capsys)
    assert code == 2 and f"{missing}" in err and "no such file" in err and "Traceback" not in err, err


def test_grade_bool_options_take_a_word_or_stand_alone(tmp_path, capsys):
    """``--root true`` (as a user writes it after ``--n 4``) and bare ``--root`` mean the same."""
    from stepsieve.cli._grade import _flag_options
    from stepsieve.graders.mc import MCOptions

    assert _flag_options(["--root", "true", "--n", "4"], MCOptions, "mc") == {"root": "true", "n": "4"}
    assert _flag_options(["--root", "--n", "4"], MCOptions, "mc") == {"root": "true", "n": "4"}
    assert _flag_options(["--root", "false"], MCOptions, "mc") == {"root": "false"}
