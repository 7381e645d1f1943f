import pytest

from stepsieve import Label, SchemaError, Step, Trajectory


def _traj(verdicts):
    steps = [
        Step(i, f"s{i}", labels={} if v is None else {"truth": Label(1.0 if v == "correct" else 0.0, v)})
        for i, v in enumerate(verdicts)
    ]
    return Trajectory("t", "q", steps)


def test_first_error_conventions():
    assert _traj(["correct", "correct"]).first_error("truth") == -1
    assert _traj(["correct", "incorrect", "correct"]).first_error("truth") == 1
    assert _traj(["correct", None]).first_error("truth") is None
    assert _traj(["incorrect", None]).first_error("truth") == 0


def test_dict_round_trip_keeps_every_field():
    d = {
        "id": "x1",
        "task": [{"role": "user", "content": "add"}],
        "steps": [
            {
                "index": 0,
                "text": "calc(1,2)",
                "kind": "action",
                "observation": "3",
                "thought": "add them",
                "labels": {"mc": {"score": 0.25, "verdict": "correct", "rationale": "r",
                                  "cost": {"calls": 2, "tokens_in": 3, "tokens_out": 4, "seconds": 0.5},
                                  "grader": {"name": "mc", "hash": "abc"}, "extra": {"n": 4}}},
                "meta": {"tool_call_id": "c1"},
            }
        ],
        "outcome": {"answer": "3", "correct": True, "reward": 1.0},
        "reference": "3",
        "meta": {"world": "toolcalc"},
        "schema_version": 2,
    }
    assert Trajectory.from_dict(d).to_dict() == d
    assert list(Trajectory.from_dict(d).to_dict()) == list(d)  # the JSON layout's key order


@pytest.mark.parametrize(
    "bad, msg",
    [
        ({"task": "q", "steps": [{"text": "a"}]}, "missing required field `id`.*--from FORMAT"),
        ({"id": "a", "task": "q", "steps": []}, "empty step list"),
        ({"id": "a", "task": "q", "steps": [{"text": 3}]}, r"Expected `str`, got `int` - at `\$.steps\[0\].text`"),
        ({"id": "a", "task": "q", "steps": [{"index": 0}]}, r"missing required field `text` - at `\$.steps\[0\]`"),
        ({"id": "a", "task": "q", "steps": [{"text": "a", "labels": {"m": {"verdict": "maybe"}}}]}, "verdict"),
        ({"id": "a", "task": "q", "steps": [{"text": "a"}], "schema_version": 3}, "unsupported schema_version 3"),
    ],
)
def test_schema_errors_name_the_problem(bad, msg):
    with pytest.raises(SchemaError, match=msg):
        Trajectory.from_dict(bad)
