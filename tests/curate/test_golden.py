"""Golden files: every curation product on fixed inputs, compared with saved outputs.

Inputs and expected outputs live in ``tests/fixtures/golden/curation/`` (inputs made by its
``make_inputs.py``; expected outputs written by this test with ``STEPSIEVE_REGEN_GOLDEN=1``,
first from the code as it was before the columnar engine was removed). Rows (exports, pair
rows, pair records) must be byte-identical; outputs that are Trajectory records (``curate``,
``credit``) are compared as parsed records without ``schema_version``; Parquet outputs are
compared by content. The counts each verb prints are compared too. Expected outputs are
stored gzipped (``<name><suffix>.gz``, deterministic: no name or time in the header) to keep
the fixtures small; the comparison is on the decompressed bytes.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from stepsieve.cli import app
from stepsieve.curate import CurateOptions, Grading, PairOptions, pipeline_file
from stepsieve.formats import read_trajectories
from stepsieve.trajectory import Trajectory

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "curation"
EXPECTED = GOLDEN / "expected"
REGEN = os.environ.get("STEPSIEVE_REGEN_GOLDEN") == "1"

B, V, P, BAD = "bench.jsonl", "varied.jsonl", "varied.parquet", "bad.jsonl"

# name -> (kind, input, output suffix, arguments). An input "@name" is another case's output.
CASES: dict[str, tuple[str, str, str, list[str]]] = {
    # curate: mask / truncate / steps (filter)
    "curate-mask-bench": ("records", B, ".jsonl", ["curate", "--mode", "mask"]),
    "curate-mask-varied": ("records", V, ".jsonl", ["curate", "--mode", "mask"]),
    "curate-mask-parquet": ("records", P, ".jsonl", ["curate", "--mode", "mask", "--label", "mc"]),
    "curate-mask-grade": (
        "records",
        V,
        ".jsonl",
        [
            "curate",
            "--mode",
            "mask",
            "--after-error",
            "grade",
            "--error-weight",
            "0.5",
            "--neutral",
            "error",
            "--unscored",
            "keep",
        ],
    ),
    "curate-truncate": (
        "records",
        V,
        ".jsonl",
        ["curate", "--mode", "truncate", "--label", "mc", "--threshold", "0.5", "--min-steps", "2"],
    ),
    "curate-steps": (
        "records",
        V,
        ".jsonl",
        ["curate", "--mode", "steps", "--label", "judge", "--neutral", "mask", "--unscored", "error"],
    ),
    "curate-steps-mask": ("records", V, ".parquet", ["curate", "--mode", "steps", "--after-error", "mask"]),
    "curate-skip-bad": ("records", BAD, ".jsonl", ["curate", "--mode", "truncate", "--on-error", "skip"]),
    # pairs: records, trl-dpo, step-dpo, with options
    "pairs-records": ("rows", V, ".jsonl", ["pairs", "--format", "pairs"]),
    "pairs-records-truth-value": (
        "rows",
        V,
        ".jsonl",
        ["pairs", "--value-label", "truth", "--label", "mc", "--margin", "0.1"],
    ),
    "pairs-trl-dpo-bench": ("rows", B, ".jsonl", ["pairs", "--format", "trl-dpo", "--label", "truth"]),
    "pairs-trl-dpo-contiguous": (
        "rows",
        B,
        ".jsonl",
        ["pairs", "--format", "trl-dpo", "--contiguous", "--margin", "0.25", "--max-per-task", "3"],
    ),
    "pairs-trl-dpo-varied": ("rows", V, ".jsonl", ["pairs", "--format", "trl-dpo"]),
    "pairs-trl-dpo-parquet-in": (
        "rows",
        P,
        ".jsonl",
        ["pairs", "--format", "trl-dpo", "--label", "mc", "--threshold", "0.5"],
    ),
    "pairs-trl-dpo-any-verdict": (
        "rows",
        V,
        ".jsonl",
        ["pairs", "--format", "trl-dpo", "--any-verdict", "--kinds", "sibling", "--margin", "0"],
    ),
    "pairs-trl-dpo-max-open-1": ("rows", V, ".jsonl", ["pairs", "--format", "trl-dpo", "--max-open", "1"]),
    "pairs-step-dpo": (
        "rows",
        V,
        ".jsonl",
        [
            "pairs",
            "--format",
            "step-dpo",
            "--label",
            "mc",
            "--threshold",
            "0.5",
            "--margin",
            "0.2",
            "--max-per-task",
            "3",
            "--sep",
            " || ",
        ],
    ),
    "pairs-step-dpo-first-error": (
        "rows",
        V,
        ".jsonl",
        [
            "pairs",
            "--format",
            "step-dpo",
            "--kinds",
            "first_error",
            "--max-per-task",
            "1",
            "--threshold",
            "0.5",
            "--rollout-label",
            "mc",
        ],
    ),
    "pairs-step-dpo-parquet-out": ("table", V, ".parquet", ["pairs", "--format", "step-dpo"]),
    "pairs-skip-bad": ("rows", BAD, ".jsonl", ["pairs", "--format", "trl-dpo", "--on-error", "skip"]),
    # credit
    "credit-progress": ("records", V, ".jsonl", ["credit", "--method", "progress"]),
    "credit-fork": ("records", V, ".jsonl", ["credit", "--method", "fork", "--name", "adv"]),
    "credit-mixed": (
        "records",
        V,
        ".jsonl",
        ["credit", "--method", "mixed", "--process", "fork", "--alpha", "0.3"],
    ),
    "credit-mixed-bench": ("records", B, ".jsonl", ["credit", "--contiguous"]),
    # export
    "export-stepwise": ("rows", V, ".jsonl", ["export", "--format", "trl-stepwise"]),
    "export-stepwise-soft": (
        "rows",
        V,
        ".jsonl",
        ["export", "--format", "trl-stepwise", "--label", "mc", "--soft", "--after-error", "skip"],
    ),
    "export-stepwise-threshold": (
        "rows",
        P,
        ".jsonl",
        [
            "export",
            "--format",
            "trl-stepwise",
            "--label",
            "mc",
            "--threshold",
            "0.5",
            "--neutral-as-false",
            "--sep",
            " | ",
        ],
    ),
    "export-stepwise-parquet-out": (
        "table",
        V,
        ".parquet",
        ["export", "--format", "trl-stepwise", "--soft", "--label", "mc"],
    ),
    "export-chat-raw": ("rows", V, ".jsonl", ["export", "--format", "openai-chat"]),
    "export-chat-curated": ("rows", "@curate-mask-varied", ".jsonl", ["export", "--format", "openai-chat"]),
    "export-chat-bench": ("rows", "@curate-mask-bench", ".jsonl", ["export", "--format", "openai-chat"]),
    "export-chat-weight-label": (
        "rows",
        P,
        ".jsonl",
        ["export", "--format", "openai-chat", "--weight-label", "judge"],
    ),
    "export-chat-per-step": (
        "rows",
        "@curate-mask-grade",
        ".jsonl",
        ["export", "--format", "openai-chat", "--turns", "step"],
    ),
    "export-sft-parquet-out": (
        "table",
        "@curate-mask-grade",
        ".parquet",
        ["export", "--format", "trl-sft"],
    ),
    "export-trl-dpo": ("rows", "@pairs-records", ".jsonl", ["export", "--format", "trl-dpo"]),
    "export-step-dpo": (
        "rows",
        "@pairs-records-truth-value",
        ".jsonl",
        ["export", "--format", "step-dpo", "--sep", "\\n\\n"],
    ),
    "export-step-dpo-for-step-dpo": (
        "rows",
        "@pairs-records-truth-value",
        ".jsonl",
        ["export", "--format", "step-dpo", "--for", "step-dpo"],
    ),
    "export-chat-skip-bad": (
        "rows",
        BAD,
        ".jsonl",
        ["export", "--format", "openai-chat", "--on-error", "skip"],
    ),
}

# pipeline_file: name -> (input, curate options, pair options, pairs format, sep, chat suffix, pairs suffix)
PIPELINES: dict[str, tuple[str, Grading, CurateOptions, PairOptions, str, str, str]] = {
    "pipeline-mask-bench": (
        B,
        Grading("truth"),
        CurateOptions(mode="mask"),
        PairOptions(label="mc", margin=0.5, max_per_task=8),
        "trl-dpo",
        "\n",
        ".jsonl",
    ),
    "pipeline-truncate-varied": (
        V,
        Grading("mc", 0.5),
        CurateOptions(mode="truncate"),
        PairOptions(margin=0.2, max_per_task=3),
        "step-dpo",
        " / ",
        ".jsonl",
    ),
    "pipeline-mask-grade-parquet": (
        P,
        Grading("truth"),
        CurateOptions(mode="mask", after_error="grade", error_weight=1.0),
        PairOptions(kinds=("first_error",)),
        "trl-dpo",
        "\n",
        ".parquet",
    ),
}


def _parse_records(path: Path) -> list[dict[str, Any]]:
    out = []
    for t in read_trajectories(path):
        d = Trajectory.from_dict(t.to_dict()).to_dict()
        d.pop("schema_version", None)
        out.append(d)
    return out


def _expected(name: str, tmp: Path) -> Path:
    """The golden output ``name``, decompressed into ``tmp`` (readers want a real suffix)."""
    out = tmp / f"expected-{name}"
    out.write_bytes(gzip.decompress((EXPECTED / f"{name}.gz").read_bytes()))
    return out


def _check(kind: str, got: Path, name: str, tmp: Path) -> None:
    if REGEN:
        gz = gzip.compress(got.read_bytes(), compresslevel=9, mtime=0)
        (EXPECTED / f"{name}.gz").write_bytes(gz)
        return
    assert (EXPECTED / f"{name}.gz").exists(), f"missing golden {name} (regenerate: STEPSIEVE_REGEN_GOLDEN=1)"
    want = _expected(name, tmp)
    if kind == "rows":
        assert got.read_bytes() == want.read_bytes(), f"{name} differs"
    elif kind == "table":
        assert pq.read_table(got).to_pylist() == pq.read_table(want).to_pylist(), f"{name} differs"
    else:
        assert _parse_records(got) == _parse_records(want), f"{name} differs"


def _counts(name: str, counts: dict[str, Any]) -> None:
    path = EXPECTED / f"{name}.counts.json"
    got = orjson.loads(orjson.dumps(counts, option=orjson.OPT_SORT_KEYS))
    if REGEN:
        path.write_bytes(orjson.dumps(got, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n")
        return
    assert got == orjson.loads(path.read_bytes())


def _input(spec: str, tmp: Path) -> Path:
    if spec.startswith("@"):
        _, _, suffix, _ = CASES[spec[1:]]
        return _expected(f"{spec[1:]}{suffix}", tmp)
    return GOLDEN / spec


@pytest.fixture(scope="module", autouse=True)
def _expected_dir() -> None:
    if REGEN:
        EXPECTED.mkdir(exist_ok=True)


@pytest.mark.parametrize("name", list(CASES))
def test_verb_matches_golden(name: str, tmp_path: Path) -> None:
    kind, src, suffix, args = CASES[name]
    out = tmp_path / "out" / f"{name}{suffix}"
    verb, *rest = args
    r = CliRunner().invoke(app, [verb, str(_input(src, tmp_path)), "-o", str(out), *rest, "-q"])
    assert r.exit_code == 0, (r.output, r.exception)
    counts = orjson.loads(r.output.splitlines()[-2])
    _check(kind, out, f"{name}{suffix}", tmp_path)
    _counts(name, counts)
    rejects = Path(f"{out}.rejected.jsonl")
    if "--on-error" in args:
        rej = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
        assert [(x["line"], x["file"].endswith(BAD)) for x in rej] == [(4, True), (5, True)]
    # what went in came out or was rejected (verbs that keep or drop whole records)
    if verb in ("credit", "export") or (verb == "curate" and "steps" not in args):
        assert counts["in"] == counts["out"] + counts["rejected"]


@pytest.mark.parametrize("name", list(PIPELINES))
def test_pipeline_matches_golden(name: str, tmp_path: Path) -> None:
    src, grading, copts, popts, fmt, sep, psuffix = PIPELINES[name]
    (tmp_path / "out").mkdir()
    chat, pairs = tmp_path / "out" / f"{name}.chat.jsonl", tmp_path / "out" / f"{name}.pairs{psuffix}"
    counts = pipeline_file(GOLDEN / src, chat, pairs, grading, copts, popts, pairs_format=fmt, sep=sep)
    _check("rows", chat, chat.name, tmp_path)
    _check("rows" if psuffix == ".jsonl" else "table", pairs, pairs.name, tmp_path)
    _counts(name, counts)
    c = counts["curate"]
    assert c["in"] == c["out"] + c["rejected"]
