"""The one record definition: its JSON and Arrow forms, and version 1 files.

The record types are defined once (msgspec Structs in ``trajectory/_record.py``); these
tests hold the forms derived from that definition to it, and old files to loading.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pyarrow.parquet as pq
import pytest

from stepsieve import SchemaError
from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.trajectory import (
    SCHEMA_VERSION,
    TRAJECTORY_SCHEMA,
    Cost,
    GraderRef,
    Label,
    Outcome,
    Step,
    Trajectory,
    arrow_schema,
    decode_json,
    encode_json,
)

V1 = Path(__file__).parents[1] / "fixtures" / "v1"


def _v1_records() -> list[Trajectory]:
    """What ``tests/fixtures/v1/records_v1.*`` hold (written by stepsieve with schema 1)."""
    out = []
    for i in range(3):
        mc = Label(0.75, "correct", "r", Cost(2, 10, 5, 0.5), GraderRef("mc", "abc"), {"n": 4, "n_correct": 3})
        steps = [
            Step(0, "x = 2 + 3", labels={"truth": Label(1.0, "correct"), "mc": mc}),
            Step(1, "calc(5, 1)", "action", "6", "add one", {"truth": Label(0.0, "incorrect"), "judge": Label()},
                 {"tool_call_id": f"c{i}"}),
        ]
        task = "What is 2 + 3 + 1?" if i != 1 else [{"role": "user", "content": "add 2, 3 and 1"}]
        meta = {"world": "arith", "seed": i} if i != 2 else {}
        out.append(Trajectory(f"v1-{i}", task, steps, Outcome("6", i == 0, 1.0 if i == 0 else None),
                              "6" if i else None, meta))
    return out


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_version_1_files_keep_loading(suffix):
    got = list(read_trajectories(V1 / f"records_v1{suffix}"))
    assert got == _v1_records()
    assert {t.schema_version for t in got} == {SCHEMA_VERSION}  # read as, and written as, the current one


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_version_1_file_converts_to_the_current_version(tmp_path, suffix):
    out = tmp_path / f"v2{suffix}"
    write_trajectories(read_trajectories(V1 / f"records_v1{suffix}"), out)
    assert list(read_trajectories(out)) == _v1_records()


def test_version_1_lenient_forms_are_upgraded():
    t = Trajectory.from_dict({"id": 7, "task": "q", "steps": [{"text": "a"}, {"text": "b"}], "meta": None,
                              "outcome": None})
    assert (t.id, [s.index for s in t.steps], t.meta, t.outcome) == ("7", [0, 1], {}, Outcome())
    with pytest.raises(SchemaError, match=r"got `str` - at `\$.steps\[0\].index`"):
        Trajectory.from_dict({"id": "x", "task": "q", "steps": [{"text": "a", "index": "0"}]})


def test_version_2_is_strict():
    with pytest.raises(SchemaError, match=r"missing required field `index` - at `\$.steps\[0\]`"):
        Trajectory.from_dict({"id": "x", "task": "q", "steps": [{"text": "a"}], "schema_version": 2})


def test_schema_errors_carry_step_and_trajectory():
    with pytest.raises(SchemaError) as e:
        Trajectory.from_dict({"id": "t9", "task": "q", "steps": [{"index": 0, "text": "a"}, {"index": 1, "text": 2}]})
    assert (e.value.trajectory, e.value.step) == ("t9", 1)


def test_json_layout_leaves_out_step_and_label_defaults():
    t = Trajectory("a", "q", [Step(0, "x", labels={"m": Label(0.5, None)})])
    d = orjson.loads(encode_json(t))
    assert d["steps"] == [{"index": 0, "text": "x", "labels": {"m": {"score": 0.5}}}]
    assert d["schema_version"] == SCHEMA_VERSION and d["meta"] == {} and d["outcome"] == {
        "answer": None, "correct": None, "reward": None}
    assert decode_json(encode_json(t)) == t
    assert decode_json(b'{"id": "a", "task": "q", "steps": []}') is None  # the caller says what is wrong


def _struct_names(dtype) -> list[str]:
    return [dtype.field(i).name for i in range(dtype.num_fields)]


def test_arrow_schema_is_derived_from_the_definition():
    top = [f.name for f in msgspec.structs.fields(Trajectory)]
    assert [n for n in TRAJECTORY_SCHEMA.names if n != "task_messages"] == top
    step = TRAJECTORY_SCHEMA.field("steps").type.value_type
    assert _struct_names(step) == [f.name for f in msgspec.structs.fields(Step)]
    label = step.field("labels").type.value_type
    assert _struct_names(label) == ["name"] + [f.name for f in msgspec.structs.fields(Label)]
    assert _struct_names(TRAJECTORY_SCHEMA.field("outcome").type) == [f.name for f in msgspec.structs.fields(Outcome)]


class Box(msgspec.Struct):
    name: str
    n: int | None = None


class Rec(msgspec.Struct):
    id: str
    boxes: list[Box] = []
    by_key: dict[str, Box] = {}
    payload: dict[str, object] | None = None


def test_a_new_field_reaches_parquet_with_no_other_change():
    schema = arrow_schema(Rec)
    assert schema.names == ["id", "boxes", "by_key", "payload"]
    assert _struct_names(schema.field("boxes").type.value_type) == ["name", "n"]
    assert str(schema.field("payload").type) == "string"  # open-ended: JSON text


def test_parquet_round_trip_keeps_every_field(tmp_path):
    ts = _v1_records()
    path = tmp_path / "r.parquet"
    write_trajectories(ts, path)
    assert pq.read_schema(path).metadata[b"stepsieve.schema"] == f"trajectory/{SCHEMA_VERSION}".encode()
    assert list(read_trajectories(path)) == ts


def test_structured_actions_round_trip_in_jsonl_and_parquet(tmp_path):
    from stepsieve.trajectory import Action, Point

    actions = [
        Action("tool", name="calculator", arguments='{"expr": "9 - 6"}', id="call_1"),
        Action("click", x=120, y=48, button="left", id="cu_1"),
        Action("keypress", keys=["CTRL", "S"]),
        Action("drag", path=[Point(1, 2), Point(30, 40)]),
    ]
    ts = [Trajectory("a", "save the file", [Step(0, "calculator 9 - 6", "action", actions=actions)])]
    for name in ("r.jsonl", "r.parquet"):
        write_trajectories(ts, tmp_path / name)
        assert list(read_trajectories(tmp_path / name)) == ts
    d = orjson.loads(encode_json(ts[0]))
    assert d["steps"][0]["actions"][1] == {"type": "click", "id": "cu_1", "x": 120, "y": 48, "button": "left"}
    with pytest.raises(SchemaError, match=r"Invalid enum value 'tap' - at `\$.steps\[0\].actions\[0\].type`"):
        Trajectory.from_dict(
            {"id": "a", "task": "q", "steps": [{"index": 0, "text": "t", "actions": [{"type": "tap"}]}]}
        )
