"""The columnar engine against the record path (the reference): same bytes, same counts.

Inputs are generated with every feature the engine reads — unicode, quotes, backslashes,
newlines and other control characters, texts that need whitespace normalisation, shared
prefixes, observations and thoughts, missing labels, null and neutral verdicts, Monte Carlo
counts with and without ``shared``, score-only values, unknown outcomes — and cut into tiny
chunks so tasks straddle chunk boundaries. Inputs the engine does not cover must fall back
to the record path (and bad input must still fail with file and line).
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

import stepsieve.curate._columnar_read as colread
from stepsieve._errors import ConfigError, DataError
from stepsieve._manifest import read_manifest
from stepsieve.curate import (
    CurateOptions,
    CurateStats,
    ExportOptions,
    Grading,
    PairOptions,
    PairStats,
    RowWriter,
    chat_row,
    curate,
    curate_file,
    dpo_row,
    export_file,
    group_by_task,
    pairs_file,
    pairs_for_task,
    step_dpo_row,
)
from stepsieve.curate._columnar_jobs import ColumnarUnsupported, pipeline_columnar
from stepsieve.trajectory import Label, Outcome, Step, Trajectory
from stepsieve.formats import read_trajectories, write_trajectories

ODD = ["é", "😀", '"', "\\", "\n", "\t", "\x01", "\x7f", "\u2028", "  ", " ", "\r", "\x0b"]


def _text(rng: random.Random, base: str) -> str:
    if rng.random() < 0.25:
        return f"{rng.choice(['', ' '])}{base}{rng.choice(ODD)}{rng.choice(ODD)}x{rng.choice(['', ' '])}"
    return base


def _label(rng: random.Random, ok: bool, with_counts: bool) -> Label | None:
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.17:
        return Label(None, None)
    if r < 0.25:
        return Label(0.5, "neutral")
    if with_counts and r < 0.85:
        n = rng.randint(0, 4)
        k = rng.randint(0, n) if ok else 0
        extra = {"n": n, "n_correct": k}
        if rng.random() < 0.2:
            extra["shared"] = True
        return Label(k / n if n else 0.0, "correct" if k else "incorrect", extra=extra)
    return Label(1.0 if ok else rng.choice([0.0, 0.25]), "correct" if ok else "incorrect")


def make_trajectories(
    seed: int, n_tasks: int = 40, per_task: int = 5, agent: bool = False
) -> list[Trajectory]:
    rng = random.Random(seed)
    out = []
    for ti in range(n_tasks):
        task = _text(rng, f"Task {ti}: solve {rng.randint(0, 99)}")
        shared = rng.randint(0, 4)
        for j in range(per_task):
            n_steps = rng.randint(1, 7)
            err = rng.randint(0, n_steps + 2)
            steps = []
            for i in range(n_steps):
                base = f"step {i} shared" if i < shared else f"step {i} alt {rng.randint(0, 2)}"
                ok = i < err
                labels = {}
                for name, counts in (("truth", False), ("mc", True)):
                    lab = _label(rng, ok, counts)
                    if lab is not None:
                        labels[name] = lab
                obs = _text(rng, f"obs {i}") if agent and rng.random() < 0.7 else None
                thought = rng.choice([None, "", _text(rng, "think")]) if agent else None
                steps.append(
                    Step(
                        i,
                        _text(rng, base) if rng.random() < 0.5 else base,
                        "action" if obs else "reasoning",
                        obs,
                        thought,
                        labels,
                    )
                )
            correct = rng.choice([None, True, False])
            meta = {} if ti % 3 == 0 else {"task_id": f"t{ti}"}  # some tasks grouped by their text
            out.append(Trajectory(f"{ti}-{j}", task, steps, Outcome("1", correct), None, meta))
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("columnar")
    out = {}
    for name, agent in (("reasoning", False), ("agent", True)):
        p = d / f"{name}.jsonl"
        write_trajectories(make_trajectories(3 if agent else 1, agent=agent), p)
        out[name] = p
    return out


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of ~2 KB: tasks straddle chunk ends, so the carry-over is exercised."""
    monkeypatch.setattr(colread, "CHUNK_BYTES", 2048)


PAIR_OPTS = [
    (Grading("truth"), PairOptions()),
    (Grading("mc", 0.5), PairOptions(margin=0.2, max_per_task=3)),
    (Grading("truth"), PairOptions(consistent=False, kinds=("sibling",), margin=0.0)),
    (Grading("truth", 0.5), PairOptions(kinds=("first_error",), max_per_task=1)),
    (Grading("mc"), PairOptions(label="truth", margin=0.1)),
]


@pytest.mark.parametrize("kind", ["reasoning", "agent"])
@pytest.mark.parametrize("fmt", ["trl-dpo", "step-dpo"])
@pytest.mark.parametrize("case", range(len(PAIR_OPTS)))
def test_pairs_rows_equal_record_path(files, tmp_path, kind, fmt, case):
    grading, opts = PAIR_OPTS[case]
    src = files[kind]
    sep = "\n" if case % 2 == 0 else " || "
    ex = ExportOptions(format=fmt, sep=sep)
    col = pairs_file(src, tmp_path / "c.jsonl", grading, opts, fmt=fmt, export=ex, contiguous=True)
    rec = pairs_file(
        src, tmp_path / "r.jsonl", grading, opts, fmt=fmt, export=ex, contiguous=True, engine="record"
    )
    assert read_manifest(tmp_path / "c.jsonl")["extra"]["engine"] == {
        "path": "columnar",
        "fallback_reason": None,
    }
    assert read_manifest(tmp_path / "r.jsonl")["extra"]["engine"]["path"] == "record"
    assert col == rec
    assert rec["out"] > 0
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()


@pytest.mark.parametrize("fmt", ["trl-dpo", "step-dpo"])
def test_pairs_parquet_equal_record_path(files, tmp_path, fmt):
    g, o = Grading("truth"), PairOptions()
    pairs_file(files["agent"], tmp_path / "c.parquet", g, o, fmt=fmt)
    pairs_file(files["agent"], tmp_path / "r.parquet", g, o, fmt=fmt, engine="record")
    a, b = pq.read_table(tmp_path / "c.parquet"), pq.read_table(tmp_path / "r.parquet")
    assert a.schema == b.schema
    assert a.to_pylist() == b.to_pylist() and a.num_rows > 0


@pytest.mark.parametrize("kind", ["reasoning", "agent"])
def test_chat_export_equal_record_path(files, tmp_path, kind):
    curated = tmp_path / "cur.jsonl"
    curate_file(files[kind], curated, Grading("truth"), CurateOptions(mode="mask", error_weight=0.5))
    for src in (files[kind], curated):
        ex = ExportOptions(format="openai-chat")
        col = export_file(src, tmp_path / "c.jsonl", ex)
        rec = export_file(src, tmp_path / "r.jsonl", ex, engine="record")
        assert read_manifest(tmp_path / "c.jsonl")["extra"]["engine"]["path"] == "columnar"
        assert col == rec and rec["out"] > 0
        assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()


def _record_pipeline(src, chat_out, dpo_out, grading, copts, popts, pex):
    cst, pst = CurateStats(), PairStats()
    with RowWriter(chat_out) as chat, RowWriter(dpo_out) as dpo:
        for group in group_by_task(read_trajectories(src), contiguous=True):
            for p in pairs_for_task(group, grading, popts, stats=pst):
                dpo.write(dpo_row(p, pex) if pex.format == "trl-dpo" else step_dpo_row(p, pex))
            for t in curate(group, grading, copts, cst):
                row = chat_row(t, ExportOptions(format="openai-chat"))
                if row is not None:
                    chat.write(row)
    return cst, pst


CURATE_OPTS = [
    CurateOptions(mode="mask"),
    CurateOptions(mode="mask", after_error="grade", neutral="mask", unscored="keep", error_weight=0.5),
    CurateOptions(mode="mask", after_error="drop", neutral="error", unscored="error"),
    CurateOptions(mode="truncate", min_steps=2),
    CurateOptions(mode="truncate", neutral="error", unscored="keep"),
]


@pytest.mark.parametrize("case", range(len(CURATE_OPTS)))
@pytest.mark.parametrize("kind", ["reasoning", "agent"])
def test_pipeline_equal_record_path(files, tmp_path, case, kind):
    copts = CURATE_OPTS[case]
    grading = Grading("truth") if case % 2 == 0 else Grading("mc", 0.5)
    popts = PairOptions(max_per_task=2 + case)
    pex = ExportOptions(format="step-dpo" if case % 2 else "trl-dpo")
    rc, rp = _record_pipeline(
        files[kind], tmp_path / "rc.jsonl", tmp_path / "rd.jsonl", grading, copts, popts, pex
    )
    cc, cp = CurateStats(), PairStats()
    pipeline_columnar(
        files[kind],
        tmp_path / "cc.jsonl",
        tmp_path / "cd.jsonl",
        grading,
        copts,
        popts,
        pairs=pex,
        cst=cc,
        pst=cp,
    )
    assert (tmp_path / "cc.jsonl").read_bytes() == (tmp_path / "rc.jsonl").read_bytes()
    assert (tmp_path / "cd.jsonl").read_bytes() == (tmp_path / "rd.jsonl").read_bytes()
    assert (cc.seen, cc.kept, cc.rows, cc.rejected or {}) == (rc.seen, rc.kept, rc.rows, rc.rejected or {})
    assert cp == rp


def _write_lines(path: Path, recs: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    return path


def _recs(n: int = 6) -> list[dict]:
    return [t.to_dict() for t in make_trajectories(5, n_tasks=n, per_task=3)]


def _assert_fallback(tmp_path: Path, src: Path, reason_part: str) -> None:
    g, o = Grading("truth"), PairOptions()
    col = pairs_file(src, tmp_path / "c.jsonl", g, o, fmt="trl-dpo")
    rec = pairs_file(src, tmp_path / "r.jsonl", g, o, fmt="trl-dpo", engine="record")
    eng = read_manifest(tmp_path / "c.jsonl")["extra"]["engine"]
    assert eng["path"] == "record" and reason_part in eng["fallback_reason"]
    assert col == rec
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()


def test_chat_task_falls_back_and_matches(tmp_path):
    recs = _recs()
    recs[4]["task"] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}]
    _assert_fallback(tmp_path, _write_lines(tmp_path / "in.jsonl", recs), "Arrow")


def test_explicit_null_label_is_refused_then_located(tmp_path):
    recs = _recs()
    del recs[7]["steps"][0]["labels"]["truth"]  # absent: fine for both paths
    src = _write_lines(tmp_path / "ok.jsonl", recs)
    col = pairs_file(src, tmp_path / "c.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo")
    assert read_manifest(tmp_path / "c.jsonl")["extra"]["engine"]["path"] == "columnar" and col["in"] == len(
        recs
    )
    recs[9]["steps"][0]["labels"]["truth"] = None  # explicit null: the record path rejects it
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
    counts = pairs_file(
        src, tmp_path / "p.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo", on_error="skip"
    )
    assert counts["in"] == len(recs) and counts["rejected"] == 1 and counts["accepted"] == len(recs) - 1
    assert read_manifest(tmp_path / "p.jsonl")["extra"]["engine"]["path"] == "record"


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (
            lambda r: (
                r[2]["steps"][0]["labels"]["mc"]
                .setdefault("extra", {})
                .update(rollouts=[{"text": "a", "correct": True}])
            ),
            "rollouts",
        ),
        (lambda r: r[0].update(schema_version=2), "schema_version"),
        (lambda r: r[3]["steps"][0]["labels"]["truth"].update(verdict="wrong"), "verdict"),
        (lambda r: r[1]["steps"][0].update(kind=None), "kind"),
    ],
)
def test_unsupported_inputs_take_the_record_path(tmp_path, mutate, reason):
    recs = _recs()
    mutate(recs)
    src = _write_lines(tmp_path / "in.jsonl", recs)
    g, o = Grading("truth"), PairOptions()
    try:
        rec = pairs_file(src, tmp_path / "r.jsonl", g, o, fmt="trl-dpo", engine="record")
    except DataError as e:  # the record path rejects it: so must the routed job, at the same line
        with pytest.raises(DataError) as e2:
            pairs_file(src, tmp_path / "c.jsonl", g, o, fmt="trl-dpo")
        assert (e2.value.line, e2.value.reason) == (e.line, e.reason)
        return
    col = pairs_file(src, tmp_path / "c.jsonl", g, o, fmt="trl-dpo")
    assert col == rec
    assert reason in read_manifest(tmp_path / "c.jsonl")["extra"]["engine"]["fallback_reason"]


def test_non_contiguous_tasks(tmp_path):
    recs = _recs()
    recs.append(dict(recs[0], id="late"))  # task t0 again at the end
    src = _write_lines(tmp_path / "in.jsonl", recs)
    _assert_fallback(tmp_path, src, "not contiguous")
    # with --contiguous both engines split the task the same way
    g, o = Grading("truth"), PairOptions()
    col = pairs_file(src, tmp_path / "c.jsonl", g, o, fmt="trl-dpo", contiguous=True)
    rec = pairs_file(src, tmp_path / "r.jsonl", g, o, fmt="trl-dpo", contiguous=True, engine="record")
    assert col == rec and col["split_tasks"] == 1
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()


def test_engine_option(files, tmp_path):
    with pytest.raises(ConfigError):
        pairs_file(
            files["reasoning"], tmp_path / "x.jsonl", Grading(), PairOptions(), fmt="trl-dpo", engine="fast"
        )
    with pytest.raises(ConfigError, match="columnar"):
        pairs_file(
            files["reasoning"], tmp_path / "x.jsonl", Grading(), PairOptions(), fmt="pairs", engine="columnar"
        )
    with pytest.raises(ColumnarUnsupported):
        pipeline_columnar(
            files["reasoning"],
            tmp_path / "a.jsonl",
            tmp_path / "b.jsonl",
            Grading(),
            CurateOptions(mode="steps"),
            PairOptions(),
        )


@pytest.mark.parametrize("fmt, suffix", [("trl-dpo", "jsonl"), ("step-dpo", "parquet")])
def test_pipeline_file_routes_and_matches(files, tmp_path, fmt, suffix):
    from stepsieve.curate import pipeline_file

    args = (Grading("truth"), CurateOptions(mode="truncate"), PairOptions(max_per_task=3))
    col = pipeline_file(
        files["agent"], tmp_path / "cc.jsonl", tmp_path / f"c.{suffix}", *args, pairs_format=fmt
    )
    rec = pipeline_file(
        files["agent"],
        tmp_path / "rc.jsonl",
        tmp_path / f"r.{suffix}",
        *args,
        pairs_format=fmt,
        engine="record",
    )
    assert col == rec
    assert col["curate"]["in"] == col["curate"]["out"] + col["curate"]["rejected"]
    assert (tmp_path / "cc.jsonl").read_bytes() == (tmp_path / "rc.jsonl").read_bytes()
    if suffix == "jsonl":
        assert (tmp_path / f"c.{suffix}").read_bytes() == (tmp_path / f"r.{suffix}").read_bytes()
    else:
        assert pq.read_table(tmp_path / "c.parquet").equals(pq.read_table(tmp_path / "r.parquet"))
    for p, path in ((tmp_path / "cc.jsonl", "columnar"), (tmp_path / f"r.{suffix}", "record")):
        assert read_manifest(p)["extra"]["engine"]["path"] == path


def test_labels_the_job_does_not_read_are_still_validated(tmp_path):
    recs = _recs()
    for r in recs:  # another grader's label, and free-form meta of mixed types (as worlds write)
        r["steps"][0]["labels"]["judge"] = {"score": 0.5, "verdict": "neutral", "rationale": "ok"}
        r["meta"]["task"] = {"ops": [["+", 3], ["*", 2]], "seed": None}
    src = _write_lines(tmp_path / "ok.jsonl", recs)
    col = pairs_file(src, tmp_path / "c.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo")
    rec = pairs_file(
        src, tmp_path / "r.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo", engine="record"
    )
    assert read_manifest(tmp_path / "c.jsonl")["extra"]["engine"]["path"] == "columnar"
    assert col == rec and (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()
    recs[8]["steps"][0]["labels"]["judge"]["verdict"] = "maybe"
    bad = _write_lines(tmp_path / "bad.jsonl", recs)
    with pytest.raises(DataError) as e:
        pairs_file(bad, tmp_path / "b.jsonl", Grading("truth"), PairOptions(), fmt="trl-dpo")
    assert e.value.line == 9 and "verdict" in str(e.value)


@pytest.mark.parametrize("kind", ["reasoning", "agent"])
def test_chat_parquet_equal_record_path(files, tmp_path, kind):
    curated = tmp_path / "cur.jsonl"
    curate_file(files[kind], curated, Grading("truth"), CurateOptions(mode="mask", unscored="keep"))
    ex = ExportOptions(format="openai-chat")
    col = export_file(curated, tmp_path / "c.parquet", ex)
    rec = export_file(curated, tmp_path / "r.parquet", ex, engine="record")
    assert read_manifest(tmp_path / "c.parquet")["extra"]["engine"]["path"] == "columnar"
    a, b = pq.read_table(tmp_path / "c.parquet"), pq.read_table(tmp_path / "r.parquet")
    assert col == rec and a.schema == b.schema and a.num_rows > 0
    assert a.to_pylist() == b.to_pylist()


def test_columnar_parquet_loads_in_datasets(files, tmp_path):
    datasets = pytest.importorskip("datasets")
    pairs_file(files["agent"], tmp_path / "sdpo.parquet", Grading("truth"), PairOptions(), fmt="step-dpo")
    export_file(files["agent"], tmp_path / "chat.parquet", ExportOptions(format="openai-chat"))
    for name in ("sdpo.parquet", "chat.parquet"):
        assert read_manifest(tmp_path / name)["extra"]["engine"]["path"] == "columnar"
        ds = datasets.load_dataset(
            "parquet", data_files=str(tmp_path / name), split="train", cache_dir=str(tmp_path / "hf")
        )
        assert ds.num_rows == pq.read_table(tmp_path / name).num_rows > 0
        assert ds[0] == pq.read_table(tmp_path / name).slice(0, 1).to_pylist()[0]


@pytest.mark.parametrize("variant", ["empty", "blank_lines", "crlf", "bom", "dup_ids", "int_task_id"])
def test_file_level_edge_cases_match_record_path(tmp_path, variant):
    recs = _recs()
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
    sep = b"\r\n" if variant == "crlf" else b"\n"
    data = b"".join(x + sep for x in lines)
    if variant == "bom":
        data = b"\xef\xbb\xbf" + data
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    g, o = Grading("truth"), PairOptions()
    col = pairs_file(src, tmp_path / "c.jsonl", g, o, fmt="step-dpo")
    rec = pairs_file(src, tmp_path / "r.jsonl", g, o, fmt="step-dpo", engine="record")
    assert col == rec
    assert (tmp_path / "c.jsonl").read_bytes() == (tmp_path / "r.jsonl").read_bytes()
    ex = ExportOptions(format="openai-chat")
    col = export_file(src, tmp_path / "c2.jsonl", ex)
    rec = export_file(src, tmp_path / "r2.jsonl", ex, engine="record")
    assert col == rec
    assert (tmp_path / "c2.jsonl").read_bytes() == (tmp_path / "r2.jsonl").read_bytes()
