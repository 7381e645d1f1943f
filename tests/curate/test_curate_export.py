"""Export rows, and Parquet/JSONL files read back by the real `datasets` library."""

import orjson
import pytest
from helpers_curate import traj

from stepsieve._errors import ConfigError
from stepsieve.curate import (
    CurateOptions,
    ExportOptions,
    Grading,
    PairOptions,
    RowWriter,
    chat_row,
    check_output,
    curate,
    dpo_row,
    export_row,
    openai_chat_problems,
    pairs_for_task,
    parquet_schema,
    step_dpo_row,
    stepwise_row,
)
from stepsieve.trajectory import Label, Step, Trajectory


def _pair():
    ts = [
        traj("w", ["correct", "correct", "incorrect", "incorrect"], texts=["s0", "s1", "bad", "worse"]),
        traj("ok", ["correct", "correct", "correct", "correct"], texts=["s0", "s1", "good", "done"]),
    ]
    (p,) = pairs_for_task(ts, Grading("truth"), PairOptions(kinds=("first_error",)))
    return p


def test_stepwise_hard_soft_and_after_error_rule():
    t = traj("t", ["correct", "neutral", "incorrect", "correct", None, "correct"], task="Q")
    t.steps[1].labels["truth"].score = None
    # default rule (train-prm's too): an undecided step after the first error is incorrect
    row = stepwise_row(t, ExportOptions(format="trl-stepwise"))
    assert row == {
        "prompt": "Q",
        "completions": ["t-s0", "t-s1", "t-s2", "t-s3", "t-s4", "t-s5"],
        "labels": [True, True, False, True, False, True],
    }
    # skip: the row ends before the first undecided step
    row = stepwise_row(t, ExportOptions(format="trl-stepwise", after_error="skip"))
    assert row["completions"] == ["t-s0", "t-s1", "t-s2", "t-s3"] and row["labels"] == [True, True, False, True]
    row = stepwise_row(t, ExportOptions(format="trl-stepwise", soft=True, neutral_as=False))
    assert row["labels"] == [1.0, 0.0, 0.0, 1.0, 0.0, 1.0] and all(isinstance(x, float) for x in row["labels"])
    t.steps[0].labels["truth"] = Label(0.75, "correct")
    assert stepwise_row(t, ExportOptions(format="trl-stepwise", soft=True))["labels"][0] == 0.75
    with pytest.raises(ConfigError, match="incorrect, skip"):
        ExportOptions(format="trl-stepwise", after_error="drop")


def test_stepwise_and_train_prm_read_the_same_rule():
    """The same labels give the same trained steps in the TRL export and in train-prm."""
    from stepsieve.prm import step_targets

    t = traj("t", ["correct", "incorrect", None, "correct", None], task="Q")
    for rule in ("incorrect", "skip"):
        row = stepwise_row(t, ExportOptions(format="trl-stepwise", after_error=rule))
        targets = step_targets(t, "truth", soft=False, after_error=rule)
        trained = [float(y) for y in row["labels"]]
        assert trained == targets[: len(trained)]
        # a TRL row is a contiguous list: under skip it ends at the first undecided step
        assert len(trained) == len(targets) if rule == "incorrect" else targets[len(trained)] is None
    assert ExportOptions().after_error == "incorrect"


def test_dpo_prompt_is_explicit_and_step_dpo_layout():
    p = _pair()
    assert dpo_row(p, ExportOptions(format="trl-dpo")) == {
        "prompt": "q\ns0\ns1\n",
        "chosen": "good",
        "rejected": "bad",
    }
    # default: TRL reads `prompt`, so it holds the previous steps too
    assert step_dpo_row(p, ExportOptions(format="step-dpo"))["prompt"] == "q\ns0\ns1\n"
    # Step-DPO's own trainer appends initial_reason_steps to the task itself
    assert step_dpo_row(p, ExportOptions(format="step-dpo", dpo_for="step-dpo")) == {
        "prompt": "q",
        "initial_reason_steps": "s0\ns1\n",
        "chosen": "good",
        "rejected": "bad",
        "full_chosen": "good\ndone",
        "full_rejected": "bad\nworse",
    }


def test_chat_weights_follow_the_mask_and_tool_calls():
    (t,) = curate(
        [traj("t", ["correct", "incorrect", "correct"], task="Q")], Grading("truth"), CurateOptions()
    )
    row = chat_row(t, ExportOptions())
    # merged into turns: the two weight-0 steps are one message
    assert [(m["role"], m.get("weight"), m["content"]) for m in row["messages"]] == [
        ("user", None, "Q"),
        ("assistant", 1, "t-s0"),
        ("assistant", 0, "t-s1\nt-s2"),
    ]
    row = chat_row(t, ExportOptions(turns="step"))  # the old layout: one message per step
    assert [(m["role"], m.get("weight")) for m in row["messages"]] == [
        ("user", None),
        ("assistant", 1),
        ("assistant", 0),
        ("assistant", 0),
    ]
    agent = Trajectory(
        "a",
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "add 1 2"}],
        [
            Step(
                0,
                "add(1, 2)",
                "action",
                "3",
                "I add",
                meta={"tool_call": {"id": "c1", "name": "add", "arguments": {"a": 1}}},
            ),
            Step(1, "answer 3", "action", "done"),
        ],
    )
    msgs = chat_row(agent, ExportOptions())["messages"]
    assert msgs[2]["tool_calls"][0] == {
        "id": "c1",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a":1}'},
    }
    assert msgs[3] == {"role": "tool", "tool_call_id": "c1", "content": "3"}
    assert msgs[4] == {"role": "assistant", "content": "answer 3", "weight": 1} and msgs[5]["role"] == "user"


def test_chat_row_with_nothing_to_train_is_none():
    t = traj("t", ["incorrect"])
    t.steps[0].labels["curate"] = Label(0.0, None)
    assert chat_row(t, ExportOptions()) is None


def _load(path, tmp_path):
    datasets = pytest.importorskip("datasets")
    kind = "parquet" if str(path).endswith(".parquet") else "json"
    return datasets.load_dataset(kind, data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
@pytest.mark.parametrize(
    "fmt,soft",
    [
        ("trl-stepwise", False),
        ("trl-stepwise", True),
        ("trl-dpo", False),
        ("step-dpo", False),
        ("openai-chat", False),
        ("trl-sft", False),
    ],
)
def test_exports_round_trip_through_datasets(tmp_path, fmt, soft, suffix):
    opts = ExportOptions(format=fmt, soft=soft)
    if opts.wants_pairs:
        rows = [dpo_row(_pair(), opts) if fmt == "trl-dpo" else step_dpo_row(_pair(), opts)]
    elif fmt == "trl-stepwise":
        t = traj("t", ["correct", "incorrect"])
        t.steps[0].labels["truth"] = Label(0.625, "correct")
        rows = [stepwise_row(t, opts)]
    else:
        (t,) = curate([traj("t", ["correct", "incorrect"], task="Q")], Grading("truth"), CurateOptions())
        rows = [export_row(t, opts)]
    path = tmp_path / f"out{suffix}"
    if fmt == "openai-chat" and suffix == ".parquet":  # JSONL only: Parquet would null every key
        with pytest.raises(ConfigError, match="JSONL upload format"):
            check_output(opts, path)
        return
    with RowWriter(path, schema=parquet_schema(opts), batch_size=1) as w:
        for r in rows * 3:
            w.write(r)
    ds = _load(path, tmp_path)
    assert ds.num_rows == 3
    got = ds[0]
    if fmt == "openai-chat":
        assert got == rows[0] and not openai_chat_problems(got)  # JSON keeps only the keys written
    elif fmt == "trl-sft":
        msgs = [{k: v for k, v in m.items() if v is not None} for m in got["messages"]]
        assert msgs == [{k: v for k, v in m.items() if v is not None} for m in rows[0]["messages"]]
        assert [m["weight"] for m in msgs if m["role"] == "assistant"] == [1, 0]
    else:
        assert got == rows[0]
    if fmt == "trl-stepwise":
        assert got["labels"] == ([0.625, 0.0] if soft else [True, False])


def test_jsonl_rows_are_plain_json(tmp_path):
    path = tmp_path / "x.jsonl"
    with RowWriter(path) as w:
        w.write({"a": 1})
    assert orjson.loads(path.read_bytes()) == {"a": 1}
    assert not (tmp_path / "x.jsonl.partial").exists()
