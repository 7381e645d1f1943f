"""The canonical JSONL fast path (msgspec) gives exactly the general path's records and errors.

``_fastjson.decode_line`` either returns the record ``Trajectory.from_dict(orjson.loads(line))``
would build, or None (the reader then takes the general path). These tests pin both halves:
equal records on canonical and perturbed lines, and bad lines still failing with file + line.
"""

from __future__ import annotations

import json
import random

import orjson
import pytest

from stepsieve import Cost, DataError, GraderRef, Label, Outcome, Step, Trajectory
from stepsieve.trajectory import _fastjson, normalize_step, open_reader

pytestmark = pytest.mark.skipif(not _fastjson.available(), reason="msgspec not installed")


def _record(i: int) -> dict:
    """A canonical record using every field (the dict form the writer produces)."""
    t = Trajectory(
        f"t{i}",
        "What is 2+2?" if i % 2 else [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
        [
            Step(0, "2+2 = 4", labels={
                "truth": Label(1.0, "correct"),
                "mc": Label(0.75, "correct", "3 of 4", Cost(4, 100, 50, 0.5), GraderRef("mc", "abc"), {"n": 4, "n_correct": 3}),
            }),
            Step(1, 'calc({"e": "2+2"})', "action", observation="4", thought="check", meta={"tool_call": {"id": "c1"}},
                 labels={"judge": Label(None, None, "unparseable", extra={"raw": "???", "xs": [1, 2.5, None]})}),
            Step(2, "  odd   spacing\there ", labels={"truth": Label(0.0, "incorrect")}),
        ],
        Outcome("4", i % 3 == 0, None if i % 2 else 1.0),
        reference="4" if i % 2 else None,
        meta={"source": "test", "seed": i, "nested": {"a": [1, 2]}},
    )
    return t.to_dict()


# Lines the general path accepts in its own way (coercions, defaults) or rejects: the fast
# path must give the same record, or decline (None) so the general path decides.
_PERTURB = [
    lambda d: d.update(id=7),  # an integer id becomes "7"
    lambda d: d["steps"][0]["labels"]["truth"].update(score=1),  # an integer score becomes 1.0
    lambda d: d["steps"][0].pop("index"),  # a missing index is the position
    lambda d: d["steps"][0].pop("kind"),
    lambda d: d["steps"][1].update(labels=[]),  # an empty non-object label set means none
    lambda d: d.update(meta=None),  # null meta is {}
    lambda d: d.update(meta=[]),
    lambda d: d.update(outcome=None),
    lambda d: d.pop("outcome"),
    lambda d: d.update(schema_version=True),  # True == 1: the general path accepts it
    lambda d: d["steps"][0]["labels"]["mc"]["cost"].update(calls="4"),  # coerced by Cost.from_dict
    lambda d: d["steps"][0]["labels"]["mc"]["cost"].update(calls=2.0),
    lambda d: d["steps"][0]["labels"]["mc"].update(grader={"name": "mc"}),
    lambda d: d["steps"][0]["labels"]["mc"].update(extra={"big": 2**70}),  # orjson reads a float
    lambda d: d["meta"].update(big=-(2**63) - 1),
    lambda d: d.update(unknown_field={"x": 1}),  # unknown fields are ignored
    lambda d: d["steps"][0].update(unknown=1),
    lambda d: d["steps"][0]["labels"]["truth"].update(other="x"),
    lambda d: d.update(task=[1, 2]),  # a list task is not checked further
    lambda d: d["steps"][0].update(meta={}),
    lambda d: d["steps"][0]["labels"]["truth"].update(extra={}),
    lambda d: d["outcome"].update(reward=3),
]

# Lines the general path rejects: the fast path must decline them too.
_BAD = [
    lambda d: d.update(id=True),
    lambda d: d.update(id=None),
    lambda d: d.pop("task"),
    lambda d: d.update(steps=[]),
    lambda d: d["steps"][0].update(text=3),
    lambda d: d["steps"][0].update(index=True),
    lambda d: d["steps"][0].update(kind="thinking"),
    lambda d: d["steps"][0].update(kind=["reasoning"]),
    lambda d: d["steps"][0]["labels"]["truth"].update(score=True),
    lambda d: d["steps"][0]["labels"]["truth"].update(score="1"),
    lambda d: d["steps"][0]["labels"]["truth"].update(verdict="right"),
    lambda d: d["steps"][0]["labels"]["truth"].update(verdict={"a": 1}),
    lambda d: d["steps"][0]["labels"]["mc"].update(extra=[1]),
    lambda d: d["steps"][0]["labels"]["mc"].update(grader={"hash": "x"}),
    lambda d: d["steps"][1].update(observation=5),
    lambda d: d["steps"][1].update(meta=[]),
    lambda d: d["outcome"].update(correct=1),
    lambda d: d["outcome"].update(reward=True),
    lambda d: d.update(reference=4),
    lambda d: d.update(schema_version=2),
    lambda d: d.update(meta="x"),
]


def _general(raw: bytes) -> Trajectory:
    return Trajectory.from_dict(orjson.loads(raw))


def _same(a: Trajectory | None, b: Trajectory) -> bool:
    """Equal, and equal in repr: 1 vs 1.0, -0.0 vs 0.0 and 2**70 vs its float all differ."""
    return a is not None and a == b and repr(a) == repr(b)


def _lines(fns) -> list[bytes]:
    out = []
    for i, fn in enumerate(fns):
        d = _record(i)
        fn(d)
        out.append(json.dumps(d, ensure_ascii=False).encode() + b"\n")  # json: big ints too
    return out


def test_canonical_lines_take_the_fast_path_and_equal_the_general_path():
    for i in range(6):
        raw = orjson.dumps(_record(i))
        fast = _fastjson.decode_line(raw)
        assert fast is not None, "a canonical record must not fall back"
        assert _same(fast, _general(raw))
        assert type(fast.steps[0].labels["truth"].score) is float


@pytest.mark.parametrize("raw", _lines(_PERTURB))
def test_perturbed_lines_give_the_general_paths_record(raw, tmp_path):
    fast = _fastjson.decode_line(raw)
    want = _general(raw)
    assert fast is None or _same(fast, want)
    p = tmp_path / "in.jsonl"
    p.write_bytes(raw)
    (got,) = open_reader(p)  # whichever path the reader took
    assert _same(got, want)


@pytest.mark.parametrize("raw", _lines(_BAD))
def test_bad_lines_are_declined_and_still_fail_with_file_and_line(raw, tmp_path):
    assert _fastjson.decode_line(raw) is None
    with pytest.raises(DataError):
        _general(raw)
    good = orjson.dumps(_record(0), option=orjson.OPT_APPEND_NEWLINE)
    p = tmp_path / "in.jsonl"
    p.write_bytes(good + good + raw + good)
    with pytest.raises(DataError) as e:
        list(open_reader(p))
    assert e.value.path == str(p) and e.value.line == 3
    r = open_reader(p, on_error="skip")
    assert len(list(r)) == 3
    assert (r.read, r.accepted, r.rejected) == (4, 3, 1)


def test_malformed_json_and_blank_lines_behave_as_before(tmp_path):
    good = orjson.dumps(_record(1), option=orjson.OPT_APPEND_NEWLINE)
    p = tmp_path / "in.jsonl"
    p.write_bytes(good + b"\n" + b'{"id": "x", "task": \n' + good)
    with pytest.raises(DataError, match="malformed JSON") as e:
        list(open_reader(p))
    assert e.value.line == 3
    r = open_reader(p, on_error="skip")
    assert [t.id for t in r] == ["t1", "t1"]
    assert (r.read, r.rejected) == (3, 1)


def test_json_array_container_uses_the_same_records(tmp_path):
    recs = [_record(i) for i in range(4)]
    p = tmp_path / "in.json"
    p.write_bytes(orjson.dumps(recs, option=orjson.OPT_INDENT_2))
    got = list(open_reader(p))
    assert len(got) == 4 and all(_same(a, Trajectory.from_dict(d)) for a, d in zip(got, recs))


def test_a_fast_record_can_still_be_rejected_with_its_raw_line(tmp_path):
    raw = orjson.dumps(_record(2), option=orjson.OPT_APPEND_NEWLINE)
    p = tmp_path / "in.jsonl"
    p.write_bytes(raw)
    r = open_reader(p, on_error="skip")
    next(iter(r))
    assert r.last is not None and r.last.line == 1
    assert r.last.raw == raw and r.last.value == orjson.loads(raw)


def test_random_records_round_trip_identically():
    rng = random.Random(5)
    words = ["x", "=", "2", "+", "\u00e9t\u00e9", "\U0001f600", '"q"', "\\", "\n", "\t", "  "]
    for _ in range(300):
        steps = []
        for j in range(rng.randint(1, 5)):
            labels = {}
            for name in rng.sample(["truth", "mc", "judge"], rng.randint(0, 3)):
                extra = rng.choice([None, {}, {"n": rng.randint(0, 8), "n_correct": 0}, {"rollouts": [{"text": "a"}]}])
                labels[name] = Label(rng.choice([None, rng.random(), 0.0, -0.0, 1.0]),
                                     rng.choice([None, "correct", "incorrect", "neutral"]), extra=extra)
            steps.append(Step(j, " ".join(rng.choices(words, k=rng.randint(0, 8))),
                              rng.choice(["reasoning", "action"]), labels=labels,
                              observation=rng.choice([None, "ok", ""])))
        raw = orjson.dumps(Trajectory(f"r{rng.random()}", "task", steps).to_dict())
        fast = _fastjson.decode_line(raw)
        assert _same(fast, _general(raw))


def test_normalize_step_shortcut_matches_split_join():
    rng = random.Random(0)
    alphabet = ["a", "b", " ", "  ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\xa0",
                "\u2003", "\u2028", "\u3000", "\u200b", "\U0001f600", "e\u0301"]
    for _ in range(3000):
        s = "".join(rng.choices(alphabet, k=rng.randint(0, 10)))
        assert normalize_step(s) == " ".join(s.split()), repr(s)
