"""Every adapter in both directions, on real (or layout-faithful) fixture records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepsieve import DataError, Label, Outcome, SchemaError, Step, Trajectory
from stepsieve.formats import FORMATS, TRUTH, convert, get_format

FIX = Path(__file__).parent.parent / "fixtures"

FIXTURES = {
    "processbench": "processbench_gsm8k_sample.json",
    "prmbench": "prmbench_counterfactual_sample.jsonl",
    "prm800k": "prm800k_constructed.jsonl",
    "math-shepherd": "math_shepherd_constructed.jsonl",
    "trl": "trl_stepwise_constructed.jsonl",
    "openai-chat": "openai_chat_constructed.jsonl",
}


def _records(name: str) -> list[dict]:
    path = FIX / FIXTURES[name]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_registered_format_is_tested():
    importers = {"anthropic", "claude-code", "mini-swe-agent", "swe-agent", "openhands", "openai-agents",
                 "otel-genai", "tau-bench", "inspect",  # tests/formats/test_agent_importers.py
                 "osworld"}  # tests/formats/test_osworld.py
    assert set(FORMATS.names()) == set(FIXTURES) | {"stepsieve", "responses"} | importers


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_foreign_record_round_trip_keeps_every_field(name):
    fmt = get_format(name)
    for rec in _records(name):
        t = fmt.decode(rec)
        assert fmt.encode(t) == rec
        # and through the canonical dict form, as a JSONL file would carry it
        again = Trajectory.from_dict(json.loads(json.dumps(t.to_dict())))
        assert fmt.encode(again) == rec


@pytest.mark.parametrize("name", sorted(FIXTURES))
@pytest.mark.parametrize("middle", ["jsonl", "parquet"])
def test_file_round_trip_through_canonical_container(name, middle, tmp_path):
    src = FIX / FIXTURES[name]
    mid = tmp_path / f"mid.{middle}"
    out = tmp_path / f"out{src.suffix}"
    assert convert(src, mid, src_format=name).written == len(_records(name))
    stats = convert(mid, out, dst_format=name)
    assert (stats.read, stats.written, stats.rejected) == (len(_records(name)), len(_records(name)), 0)
    if src.suffix == ".json":
        assert json.loads(out.read_text()) == _records(name)
    else:
        assert [json.loads(x) for x in out.read_text().splitlines()] == _records(name)


def _homogeneous(name: str, tmp_path: Path) -> list[Path]:
    """Fixture files whose records fit one Parquet schema (TRL's fixture mixes prompt and
    label kinds on purpose, which one Arrow column cannot hold: split it)."""
    src = FIX / FIXTURES[name]
    if name != "trl":
        return [src]
    out = []
    for i, rec in enumerate(_records("trl")):
        p = tmp_path / f"trl{i}.jsonl"
        p.write_text(json.dumps(rec) + "\n")
        out.append(p)
    return out


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_foreign_parquet_round_trip(name, tmp_path):
    for src in _homogeneous(name, tmp_path):
        pq_path = tmp_path / "foreign.parquet"
        convert(src, tmp_path / "a.jsonl", src_format=name)
        convert(tmp_path / "a.jsonl", pq_path, dst_format=name)
        back = tmp_path / "back.jsonl"
        convert(pq_path, back, src_format=name)
        orig = [t.to_dict() for t in get_format(name).read(src)]
        assert [json.loads(x) for x in back.read_text().splitlines()] == orig


def _native(task="What is 2 + 3 * 4?", verdicts=("correct", "correct", "incorrect")) -> Trajectory:
    steps = [
        Step(i, text, labels={TRUTH: Label(1.0 if v == "correct" else 0.0, v)})
        for i, (text, v) in enumerate(zip(["3 * 4 = 12", "2 + 12 = 14", "The answer is 15."], verdicts))
    ]
    return Trajectory("n1", task, steps, Outcome("15", False), reference="14")


@pytest.mark.parametrize("name", ["processbench", "prmbench", "prm800k", "math-shepherd", "trl"])
def test_native_trajectory_survives_each_format(name):
    """Trajectory -> format -> Trajectory keeps what the format can hold: step texts, the
    truth verdicts up to the first error, and the task."""
    fmt = get_format(name)
    t = _native()
    back = fmt.decode(json.loads(json.dumps(fmt.encode(t))))
    assert [s.text for s in back.steps] == [s.text for s in t.steps]
    assert back.task == t.task
    assert back.first_error(TRUTH) == t.first_error(TRUTH) == 2
    assert [back.steps[i].labels[TRUTH].verdict for i in range(3)] == ["correct", "correct", "incorrect"]


def test_native_agent_trajectory_survives_openai_chat():
    fmt = get_format("openai-chat")
    task = [{"role": "user", "content": "add 1 and 2, then double"}]
    t = Trajectory(
        "a1", task,
        [Step(0, 'add({"a": 1, "b": 2})', "action", observation="3", thought="add first"),
         Step(1, 'mul({"a": 3, "b": 2})', "action", observation="6"),
         Step(2, "The result is 6.")],
        Outcome("The result is 6."),
    )
    rec = fmt.encode(t)
    roles = [m["role"] for m in rec["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert rec["messages"][1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1, "b": 2}'}
    back = fmt.decode(rec)
    assert [(s.kind, s.text, s.observation, s.thought) for s in back.steps] == [
        (s.kind, s.text, s.observation, s.thought) for s in t.steps
    ]
    assert back.task == task and back.outcome.answer == "The result is 6."


# ---- what each mapping means --------------------------------------------------------------


def test_processbench_label_is_first_wrong_step_and_later_steps_unjudged():
    fmt = get_format("processbench")
    rec = next(r for r in _records("processbench") if r["label"] == 1)
    t = fmt.decode(rec)
    assert t.first_error(TRUTH) == 1
    assert t.steps[0].labels[TRUTH].verdict == "correct"
    assert t.steps[1].labels[TRUTH].verdict == "incorrect"
    assert all(TRUTH not in s.labels for s in t.steps[2:])
    assert t.outcome.correct is rec["final_answer_correct"]
    assert t.meta["generator"] == rec["generator"]


def test_prmbench_error_steps_are_one_based():
    t = get_format("prmbench").decode(_records("prmbench")[0])  # error_steps [6, 7, 8]
    verdicts = [s.labels[TRUTH].verdict for s in t.steps]
    assert verdicts == ["correct"] * 5 + ["incorrect"] * 3
    assert t.id == "prm_test_p1_0"
    assert t.meta["prmbench"]["classification"] == "counterfactual"


@pytest.mark.parametrize(
    "neutral, verdict, score",
    [("neutral", "neutral", 0.5), ("correct", "correct", 1.0), ("incorrect", "incorrect", 0.0)],
)
def test_prm800k_neutral_option(neutral, verdict, score):
    rec = _records("prm800k")[0]
    fmt = get_format("prm800k", neutral=neutral)
    lab = fmt.decode(rec).steps[2].labels[TRUTH]  # the step rated 0
    assert (lab.verdict, lab.score, lab.extra["rating"]) == (verdict, score, 0)
    assert fmt.encode(fmt.decode(rec)) == rec  # lossless whatever the option


def test_prm800k_default_neutral_is_neutral_and_bad_option_is_an_error():
    assert get_format("prm800k").neutral == "neutral"
    with pytest.raises(Exception, match="neutral must be one of"):
        get_format("prm800k", neutral="positive")


def test_prm800k_unchosen_and_human_steps():
    recs = _records("prm800k")
    found_error = get_format("prm800k").decode(recs[1])
    assert found_error.first_error(TRUTH) == 1
    assert found_error.steps[1].text == "By Vieta's formulas the sum is $-5$."
    human = get_format("prm800k").decode(recs[2])
    assert human.steps[1].text.endswith("= 10$.") and human.steps[1].labels[TRUTH].verdict == "correct"
    assert human.reference == "10"


def test_math_shepherd_plus_in_step_text_is_not_a_label():
    t = get_format("math-shepherd").decode(_records("math-shepherd")[1])
    assert t.task.startswith("A robe takes")
    assert t.steps[1].text == "So it takes 2+1=<<2+1=3>>3 bolts in total"
    assert [s.labels[TRUTH].verdict for s in t.steps] == ["correct", "correct", "incorrect"]


def test_math_shepherd_misaligned_label_is_rejected():
    rec = dict(_records("math-shepherd")[0])
    rec["label"] = rec["label"].replace("+", "?", 1)
    with pytest.raises(SchemaError, match="expected '\\+' or '-'"):
        get_format("math-shepherd").decode(rec)


def test_trl_float_labels_are_kept_exactly():
    fmt = get_format("trl")
    t = fmt.decode(_records("trl")[1])
    assert [s.labels[TRUTH].score for s in t.steps] == [1.0, 0.875, 0.75]
    assert fmt.encode(t)["labels"] == [1.0, 0.875, 0.75]
    hard = fmt.decode(_records("trl")[0])
    assert fmt.encode(hard)["labels"] == [True, False]
    assert get_format("trl", soft="true").encode(hard)["labels"] == [1.0, 0.0]


def test_openai_chat_assistant_turns_are_steps_with_observations():
    t = get_format("openai-chat").decode(_records("openai-chat")[0])
    assert [m["role"] for m in t.task] == ["system", "user"]
    assert [s.kind for s in t.steps] == ["action", "action", "reasoning"]
    assert t.steps[0].text == 'calc({"expr": "3*12"})'
    assert (t.steps[0].thought, t.steps[0].observation) == ("First the total number of pencils.", "36")
    assert t.outcome.answer == "Tom has 29 pencils left."
    parallel = get_format("openai-chat").decode(_records("openai-chat")[1])
    assert parallel.steps[0].text.count("\n") == 1 and parallel.steps[0].observation == "12.0\n9.0"


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rec, msg",
    [
        ("processbench", {"id": "x", "steps": ["a"], "label": -1}, "missing required field 'problem'"),
        ("processbench", {"id": "x", "problem": "q", "steps": [], "label": -1}, "empty step list"),
        ("processbench", {"id": "x", "problem": "q", "steps": ["a"], "label": "0"}, "'label' must be an integer"),
        ("processbench", {"id": "x", "problem": "q", "steps": ["a"], "label": 3}, "'label' must be -1 or a step"),
        ("prmbench", {"idx": "x", "modified_question": "q", "modified_process": ["a"], "error_steps": ["1"]},
         "list of integers"),  # out-of-range indices are ignored by default, as the official scorer does
        ("prm800k", {"question": {"problem": "q"}, "label": {"steps": []}}, "empty step list"),
        ("math-shepherd", {"input": "q Step 1: a", "label": "q Step 1: a"}, "no 'ки' step tags"),
        ("trl", {"prompt": "q", "completions": ["a", "b"], "labels": [True]}, "1 items for 2 completions"),
        ("trl", {"prompt": "q", "completions": ["a"], "labels": ["yes"]}, "must be a boolean or a number"),
        ("openai-chat", {"messages": [{"role": "user", "content": "hi"}]}, "no assistant message"),
        ("stepsieve", {"id": "x", "task": "q", "steps": [{"text": 3}]},
         "Expected `str`, got `int` - at `\\$.steps\\[0\\].text`"),
    ],
)
def test_bad_records_name_the_field(name, rec, msg):
    with pytest.raises(SchemaError, match=msg):
        get_format(name).decode(rec)


def test_writing_without_the_needed_labels_is_a_data_error():
    t = Trajectory("u", "q", [Step(0, "a")])
    for name in ("processbench", "prmbench", "prm800k", "math-shepherd", "trl"):
        with pytest.raises(DataError, match="has no 'truth' labels"):
            get_format(name).encode(t)


def test_unknown_format_and_option_are_config_errors():
    with pytest.raises(Exception, match="did you mean 'prm800k'"):
        get_format("prm800")
    with pytest.raises(Exception, match="has no option 'nuetral'"):
        get_format("prm800k", nuetral="correct")


def test_trl_mixed_prompt_kinds_in_parquet_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="do not fit the Parquet schema"):
        convert(FIX / FIXTURES["trl"], tmp_path / "mixed.parquet", src_format="trl", dst_format="trl")
    assert not (tmp_path / "mixed.parquet").exists()


def test_trl_soft_label_outside_zero_one_is_an_error():
    with pytest.raises(SchemaError, match=r"item 1 is 1.7: a soft label must lie in \[0, 1\]"):
        get_format("trl").decode({"prompt": "q", "completions": ["a", "b"], "labels": [0.5, 1.7]})


def test_openai_chat_tool_result_for_an_unknown_call_is_an_error():
    msgs = [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c9", "content": "3"},
    ]
    with pytest.raises(SchemaError, match=r"messages\[2\]: tool result for call id 'c9'.*its calls: 'c1'"):
        get_format("openai-chat").decode({"messages": msgs})


def test_a_foreign_file_read_without_from_says_which_format_reads_it(tmp_path):
    from stepsieve.formats import read_trajectories

    path = tmp_path / "pb.json"
    path.write_text(
        '[{"id": "gsm8k-1", "problem": "q", "steps": ["a", "b"], "label": 1, "final_answer_correct": false}]'
    )
    with pytest.raises(
        SchemaError, match=r"pb.json:1: array item 0 \(id 'gsm8k-1'\): .*; it reads as --from processbench$"
    ):
        list(read_trajectories(path))
