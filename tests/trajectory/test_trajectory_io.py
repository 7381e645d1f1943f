"""Streaming readers/writers, the error policy and the reject file."""

from __future__ import annotations

import base64
import json

import orjson
import pyarrow.parquet as pq
import pytest

from stepsieve import Cost, DataError, GraderRef, Label, Outcome, SchemaError, Step, Trajectory
from stepsieve.formats import convert, open_reader, open_writer, read_trajectories, write_trajectories
from stepsieve.trajectory import RejectSink


def _full(i: int) -> Trajectory:
    """A record using every field of the schema."""
    return Trajectory(
        f"t{i}",
        "What is 2+2?" if i % 2 else [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
        [
            Step(0, "2+2 = 4", labels={
                "truth": Label(1.0, "correct"),
                "mc": Label(
                    0.75, "correct", "3 of 4 rollouts", Cost(4, 100, 50, 0.5), GraderRef("mc", "abc123"), {"n": 4}
                ),
            }),
            Step(1, 'calc({"e": "2+2"})', "action", observation="4", thought="check it", meta={"tool_call_id": "c1"},
                 labels={"judge": Label(None, None, "unparseable reply", extra={"raw": "???"})}),
        ],
        Outcome("4", True, 1.0),
        reference="4",
        meta={"source": "test", "seed": i, "nested": {"a": [1, 2]}},
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip_keeps_every_field(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    ts = [_full(i) for i in range(5)]
    assert write_trajectories(ts, path) == 5
    assert [t.to_dict() for t in read_trajectories(path)] == [t.to_dict() for t in ts]


def test_parquet_is_written_and_read_in_batches(tmp_path):
    path = tmp_path / "many.parquet"
    with open_writer(path) as w:
        w._sink.batch_size = 10  # small row groups to observe batching
        for i in range(35):
            w.write(_full(i))
    meta = pq.ParquetFile(path).metadata
    assert (meta.num_rows, meta.num_row_groups) == (35, 4)
    reader = open_reader(path)
    it = iter(reader)
    next(it)
    assert reader.read == 1 and reader.position == 1  # one row consumed, not the file
    assert sum(1 for _ in it) == 34


def test_parquet_schema_is_typed(tmp_path):
    path = tmp_path / "t.parquet"
    write_trajectories([_full(1)], path)
    schema = pq.read_schema(path)
    step = schema.field("steps").type.value_type
    assert str(step.field("text").type) == "string"
    label = step.field("labels").type.value_type
    assert str(label.field("score").type) == "double"


def test_jsonl_reader_streams(tmp_path):
    path = tmp_path / "t.jsonl"
    write_trajectories((_full(i) for i in range(100)), path)
    reader = open_reader(path)
    it = iter(reader)
    next(it)
    assert 0 < reader.position < path.stat().st_size / 10


def test_a_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "out.jsonl"

    def write_then_fail() -> None:
        with open_writer(path) as w:
            w.write(_full(0))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert not path.exists() and not list(tmp_path.iterdir())


# ---- bad input: each case names file, line and reason -------------------------------------

GOOD = orjson.dumps(_full(1).to_dict())

BAD_LINES = {
    "malformed JSON": (b'{"id": "x", "task": ', "malformed JSON"),
    "missing field": (b'{"task": "q", "steps": [{"text": "a"}]}', "missing required field `id`"),
    "wrong type": (
        b'{"id": "x", "task": "q", "steps": [{"text": "a", "index": "0"}]}',
        "Expected `int`, got `str` - at `$.steps[0].index`",
    ),
    "empty step list": (b'{"id": "x", "task": "q", "steps": []}', "empty step list"),
    "non-UTF-8": (b'{"id": "x", "task": "caf\xe9", "steps": [{"text": "a"}]}', "invalid UTF-8"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_line_raises_with_file_and_line(tmp_path, case):
    bad, reason = BAD_LINES[case]
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b"\n" + bad + b"\n" + GOOD + b"\n")
    with pytest.raises(DataError) as exc:
        list(read_trajectories(path))
    assert (exc.value.path, exc.value.line) == (str(path), 2)
    assert str(exc.value).startswith(f"{path}:2: ") and reason in str(exc.value)


def test_truncated_final_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b"\n" + GOOD[: len(GOOD) // 2])
    with pytest.raises(DataError, match=r"in.jsonl:2: truncated final line"):
        list(read_trajectories(path))


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\n")
    assert len(list(read_trajectories(path))) == 1


def test_valid_final_line_without_newline_is_fine(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD + b"\n\n" + GOOD)  # a blank line is not a record
    assert len(list(read_trajectories(path))) == 2


def test_skip_quarantines_bad_lines_unchanged(tmp_path):
    lines = [GOOD] + [bad for bad, _ in BAD_LINES.values()] + [GOOD, GOOD[:20]]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines))  # the last line is truncated (no newline)
    out = tmp_path / "out.parquet"
    stats = convert(src, out, on_error="skip")
    assert (stats.read, stats.written, stats.rejected) == (8, 2, 6)
    assert str(stats) == "8 read, 2 written, 6 rejected"
    rej = [json.loads(x) for x in (tmp_path / "out.parquet.rejected.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rej] == [2, 3, 4, 5, 6, 8]
    assert all(r["file"] == str(src) for r in rej)
    for r, original in zip(rej, lines[1:6] + lines[7:]):
        if "raw_base64" in r:  # the non-UTF-8 line: exact bytes in base64
            assert base64.b64decode(r["raw_base64"]) == original and "invalid UTF-8" in r["reason"]
        else:
            assert r["raw"].encode() == original
    assert len(list(read_trajectories(out))) == 2


def test_clean_skip_run_writes_no_reject_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD + b"\n")
    assert convert(src, tmp_path / "o.jsonl", on_error="skip").rejected == 0
    assert not (tmp_path / "o.jsonl.rejected.jsonl").exists()


def test_reader_counts_and_custom_reject_sink(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(GOOD + b"\n[1, 2]\n" + GOOD + b"\n")
    with RejectSink(tmp_path / "side.jsonl") as sink:
        reader = open_reader(src, on_error="skip", rejects=sink)
        assert len(list(reader)) == 2
    assert (reader.read, reader.accepted, reader.rejected, sink.count) == (3, 2, 1, 1)
    rec = json.loads((tmp_path / "side.jsonl").read_text())
    assert rec == {
        "file": str(src), "line": 2, "reason": "a trajectory must be a JSON object, got list", "raw": "[1, 2]"
    }


def test_records_the_target_format_cannot_hold_are_rejected_too(tmp_path):
    src = tmp_path / "in.jsonl"
    unlabelled = Trajectory("u", "q", [Step(0, "a")])
    labelled = Trajectory("ok", "q", [Step(0, "a", labels={"truth": Label(1.0, "correct")})], Outcome(correct=True))
    write_trajectories([labelled, unlabelled], src)
    stats = convert(src, tmp_path / "pb.json", dst_format="processbench", on_error="skip")
    assert (stats.read, stats.written, stats.rejected) == (2, 1, 1)
    rej = json.loads((tmp_path / "pb.json.rejected.jsonl").read_text())
    assert rej["line"] == 2 and "cannot write as processbench" in rej["reason"]
    with pytest.raises(DataError, match=r"in.jsonl:2: cannot write as processbench"):
        convert(src, tmp_path / "pb2.json", dst_format="processbench")


def test_bad_parquet_row_names_its_row(tmp_path):
    path = tmp_path / "t.parquet"
    write_trajectories([_full(1), _full(2)], path)
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[1]["steps"] = []
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    with pytest.raises(SchemaError, match=r"t.parquet:2: empty step list"):
        list(read_trajectories(path))


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        list(read_trajectories(path))


def test_foreign_parquet_read_as_canonical_is_a_clear_error(tmp_path):
    import pyarrow as pa

    path = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"problem": ["q"], "steps": [["a"]]}), path)
    with pytest.raises(SchemaError, match=r"foreign.parquet:1: not a stepsieve Parquet file: no column"):
        list(read_trajectories(path))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(read_trajectories(tmp_path / "nope.jsonl"))


# ---- JSON arrays (ProcessBench's .json files) ---------------------------------------------


def test_json_array_elements_stream_with_their_lines(tmp_path):
    objs = [{"id": "a", "problem": 'braces } { and "quotes" \\ here', "steps": ["x]"], "label": -1},
            {"id": "b", "problem": "q", "steps": ["y", "z"], "label": 0}]
    path = tmp_path / "pb.json"
    path.write_text("[\n" + ",\n".join(json.dumps(o, indent=1) for o in objs) + "\n]\n")
    reader = open_reader(path, "processbench")
    ts = list(reader)
    assert [t.id for t in ts] == ["a", "b"] and ts[0].task == objs[0]["problem"]
    bad = path.read_text().replace('"label": 0', '"label": "zero"')
    path.write_text(bad)
    with pytest.raises(SchemaError, match=r"pb.json:10: array item 1 \(id 'b'\): field 'label' must be an integer"):
        list(open_reader(path, "processbench"))


def test_truncated_json_array(tmp_path):
    path = tmp_path / "pb.json"
    path.write_text('[{"id": "a", "problem": "q", "steps": ["x"], "label": -1}, {"id": "b", "pro')
    reader = open_reader(path, "processbench")
    with pytest.raises(DataError, match=r"pb.json:1: truncated JSON array"):
        list(reader)
    assert reader.accepted == 1


# ---- input hygiene ------------------------------------------------------------------------


def test_json_array_with_byte_order_mark_is_read_as_an_array(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf[" + GOOD + b",\n" + GOOD + b"]\n")
    assert len(list(read_trajectories(path))) == 2


def test_empty_json_file_is_an_error_not_an_empty_dataset(tmp_path):
    path = tmp_path / "empty.json"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.json:1: empty file"):
        list(read_trajectories(path))


def test_single_line_json_array_errors_name_the_item_and_its_id(tmp_path):
    path = tmp_path / "one_line.json"
    bad = b'{"id": "b7", "task": "q", "steps": [{"text": 3}]}'
    path.write_bytes(b"[" + GOOD + b", " + GOOD.replace(b'"x1"', b'"x2"') + b", " + bad + b"]")
    with pytest.raises(DataError, match=r"one_line.json:1: array item 2 \(id 'b7'\): Expected `str`"):
        list(read_trajectories(path))
