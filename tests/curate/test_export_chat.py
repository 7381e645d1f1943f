"""Chat exports: turns merged by weight, real tool calls from every record source, and
OpenAI's documented fine-tuning rules (the validator, and every export checked by it)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from helpers_curate import traj

from stepsieve.curate import (
    CurateOptions,
    ExportOptions,
    Grading,
    chat_row,
    check_openai_chat_file,
    curate,
    export_file,
    openai_chat_problems,
)
from stepsieve.formats import get_format, read_trajectories
from stepsieve.sampling._sample import to_trajectory
from stepsieve.trajectory import Action, Label, Step, Trajectory, encode_json
from stepsieve.worlds import Task, get_world

AG = Path(__file__).resolve().parents[1] / "fixtures" / "agents"


def _ok(row):
    assert openai_chat_problems(row) == [], openai_chat_problems(row)
    return row


# ---- the validator ------------------------------------------------------------------------

GOOD = {
    "messages": [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": None, "weight": 1,
         "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                        {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
        {"role": "assistant", "content": "done", "weight": 0},
    ],
    "tools": [],
}


def _bad(edit):
    row = orjson.loads(orjson.dumps(GOOD))
    edit(row)
    return openai_chat_problems(row)


def test_validator_accepts_the_documented_shape():
    assert openai_chat_problems(GOOD) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda r: r["messages"][1].update(weight=1), "keys its role does not allow: weight"),
        (lambda r: r["messages"][1].update(weight=None, tool_calls=None), "tool_calls, weight"),
        (lambda r: r["messages"][5].update(weight=0.5), "weight must be 0 or 1"),
        (lambda r: r["messages"][5].update(weight=True), "weight must be 0 or 1"),
        (lambda r: r["messages"].pop(4), "tool calls ['b'] have no tool message"),
        (lambda r: r["messages"][3].update(tool_call_id="zz"), "answers no open call"),
        (lambda r: r["messages"][2]["tool_calls"][1].update(id="a"), "used twice"),
        (lambda r: r["messages"][2]["tool_calls"][0]["function"].update(arguments={}), "must be a string"),
        (lambda r: r["messages"][2]["tool_calls"][0].update(type="tool"), "type must be 'function'"),
        (lambda r: r["messages"][2].update(tool_calls=[]), "non-empty list"),
        (lambda r: r["messages"][5].update(content=None), "has no content"),
        (lambda r: r["messages"][0].update(role="robot"), "role 'robot'"),
        (lambda r: r.update(messages=r["messages"][:2]), "no assistant message"),
        (lambda r: r.update(weight=1), "unknown top-level key"),
    ],
)
def test_validator_rejects_what_the_rules_forbid(edit, needle):
    problems = _bad(edit)
    assert any(needle in p for p in problems), problems


def test_validator_reads_a_file_by_line(tmp_path):
    p = tmp_path / "ft.jsonl"
    bad = {"messages": [{"role": "user", "content": "u", "weight": None}]}
    p.write_bytes(orjson.dumps(GOOD) + b"\n" + orjson.dumps(bad) + b"\n{oops\n")
    got = check_openai_chat_file(p)
    assert {n for n, _ in got} == {2, 3} and any("weight" in m for n, m in got if n == 2)


# ---- turns ------------------------------------------------------------------------------------


def test_steps_merge_into_turns_split_where_the_weight_changes():
    t = traj("t", ["correct", "correct", "incorrect", None, None], task="Q")
    for s, w in zip(t.steps, [1.0, 1.0, 0.0, 0.0, 1.0]):
        s.labels["curate"] = Label(w, None)
    msgs = _ok(chat_row(t, ExportOptions()))["messages"]
    assert [(m["role"], m.get("weight"), m["content"]) for m in msgs] == [
        ("user", None, "Q"),
        ("assistant", 1, "t-s0\nt-s1"),
        ("assistant", 0, "t-s2\nt-s3"),
        ("assistant", 1, "t-s4"),
    ]
    per_step = _ok(chat_row(t, ExportOptions(turns="step")))["messages"]
    assert [m.get("weight") for m in per_step] == [None, 1, 1, 0, 0, 1]


def test_a_text_action_ends_the_turn_with_its_observation_as_user():
    t = traj("t", ["correct", "correct"], task="Q", obs=True)
    msgs = _ok(chat_row(t, ExportOptions()))["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]


def test_assistant_messages_in_the_task_are_context_not_targets():
    t = Trajectory("t", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "shot"},
                         {"role": "user", "content": "go"}], [Step(0, "x")])
    msgs = _ok(chat_row(t, ExportOptions()))["messages"]
    assert msgs[1] == {"role": "assistant", "content": "shot", "weight": 0}


# ---- tool calls from every record source ----------------------------------------------------


def _calls(row):
    return [c for m in row["messages"] for c in m.get("tool_calls") or ()]


def test_toolcalc_sampler_records_export_real_tool_calls():
    w = get_world("toolcalc")
    task = Task("t", "Mia has 7 apples. ...", "8", {"start": 7, "ops": [["+", 8], ["*", 3], ["-", 5], ["/", 5]]})
    acts = ["calculator 7 + 8", "calculator 15 * 3", "calculator 45 - 5", "calculator 40 / 5", "answer 8"]
    t = to_trajectory(w, task, acts, traj_id="x", meta={})
    row = _ok(chat_row(t, ExportOptions()))
    calls = _calls(row)
    # the same calls the world's own chat view makes, each answered by a tool message
    want = [m["tool_calls"][0] for m in w.to_chat(task, acts) if m["role"] == "assistant"]
    assert calls == want
    tools = [m for m in row["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tools] == [s.observation for s in t.steps]
    assert not any(m["role"] == "user" for m in row["messages"][2:])  # no result as a user turn


def test_openai_chat_records_keep_their_call_ids_and_results():
    fmt = get_format("openai-chat")
    src = {"messages": [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": "both", "tool_calls": [
            {"id": "k1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":1}"}},
            {"id": "k2", "type": "function", "function": {"name": "add", "arguments": "{\"a\":2}"}}]},
        {"role": "tool", "tool_call_id": "k1", "content": "1"},
        {"role": "tool", "tool_call_id": "k2", "content": "2"},
        {"role": "assistant", "content": "3"},
    ]}
    t = fmt.decode(src)
    row = _ok(chat_row(t, ExportOptions()))
    assert row["messages"][1:] == [
        {**src["messages"][1], "weight": 1}, src["messages"][2], src["messages"][3],
        {"role": "assistant", "content": "3", "weight": 1},
    ]


def test_flat_meta_tool_call_of_older_records_still_exports():
    call = {"id": "c1", "name": "add", "arguments": {"a": 1}}
    s = Step(0, "add(1)", "action", "3", "I add", meta={"tool_call": call})
    row = _ok(chat_row(Trajectory("a", "q", [s]), ExportOptions()))
    assert _calls(row) == [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1}'}}]


def test_parallel_calls_each_get_a_tool_message_and_ids_stay_unique():
    acts = [Action("tool", name="f", arguments="{}", id="same"), Action("tool", name="g", arguments="{}")]
    steps = [Step(0, "f()\ng()", "action", "r", actions=acts),
             Step(1, "f()", "action", "r2", actions=[Action("tool", name="f", arguments="{}", id="same")]),
             Step(2, "click", "action", None, actions=[Action("click", x=1, y=2, button="left")])]
    row = _ok(chat_row(Trajectory("p", "q", steps), ExportOptions()))
    ids = [c["id"] for c in _calls(row)]
    assert len(ids) == len(set(ids)) == 4
    assert _calls(row)[3]["function"]["name"] == "computer"
    assert [m["content"] for m in row["messages"] if m["role"] == "tool"] == ["r", "", "r2", ""]


IMPORTED = [
    ("claude-code", "claude-code/tool_heavy.jsonl"),
    ("mini-swe-agent", "mini-swe-agent/testdata_local.traj.json"),
    ("swe-agent", "swe-agent/demo__function_calling_simple.traj"),
    ("openhands", "openhands/v1_sdk_conversation"),
    ("openai-agents", "openai/test_openai_responses_model_simple_response_with_tool_call.yaml"),
    ("otel-genai", "otel-genai/pydantic-ai-tools-2025-12-04.trace.json"),
    ("tau-bench", "tau-bench/tau1_gpt-4o-airline.subset6.json"),
]


@pytest.mark.parametrize(("fmt", "sample"), IMPORTED)
@pytest.mark.parametrize("turns", ["merge", "step"])
def test_imported_agent_runs_export_every_action_as_a_tool_call(fmt, sample, turns, tmp_path):
    ts = list(read_trajectories(AG / sample, fmt))
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(encode_json(t) + b"\n" for t in ts))
    out = tmp_path / "ft.jsonl"
    counts = export_file(src, out, ExportOptions(turns=turns))
    assert counts["out"] == len(ts)
    assert check_openai_chat_file(out) == []
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    n_actions = sum(len(s.actions) for t in ts for s in t.steps)
    assert n_actions > 0 and sum(len(_calls(r)) for r in rows) == n_actions
    assert sum(m["role"] == "tool" for r in rows for m in r["messages"]) == n_actions


def test_curated_exports_pass_the_rules_and_load_in_datasets(tmp_path):
    datasets = pytest.importorskip("datasets")
    ts = [traj(f"t{i}", v, task="Q", obs=i % 2 == 0) for i, v in
          enumerate([["correct", "incorrect", None], ["correct", "correct"], ["neutral", "incorrect"]])]
    cur = list(curate(ts, Grading("truth"), CurateOptions(mode="mask")))
    src = tmp_path / "cur.jsonl"
    src.write_bytes(b"".join(encode_json(t) + b"\n" for t in cur))
    out = tmp_path / "ft.jsonl"
    export_file(src, out, ExportOptions())
    assert check_openai_chat_file(out) == []
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(out.read_bytes().splitlines()) > 0


# ---- axolotl ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_axolotl_rows_flag_exactly_the_kept_turns_and_load_in_datasets(tmp_path, suffix):
    """axolotl's chat_template strategy reads a per-message bool (``message_field_training:
    train``): true trains the message (and with ``train_on_eos: turn`` its end of turn)."""
    datasets = pytest.importorskip("datasets")
    agent = Trajectory(
        "a", [{"role": "system", "content": "s"}, {"role": "user", "content": "7+8?"}],
        [Step(0, "c", "action", "16", actions=[Action("tool", name="calc", arguments='{"e":"7+9"}', id="x")],
              labels={"curate": Label(0.0, None)}),
         Step(1, "c", "action", "15", actions=[Action("tool", name="calc", arguments='{"e":"7+8"}', id="y")]),
         Step(2, "answer 15")],
    )
    src = tmp_path / "in.jsonl"
    src.write_bytes(encode_json(agent) + b"\n")
    out = tmp_path / f"ax{suffix}"
    export_file(src, out, ExportOptions(format="axolotl"))
    kind = "parquet" if suffix == ".parquet" else "json"
    (row,) = datasets.load_dataset(kind, data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    flags = [(m["role"], m["train"]) for m in row["messages"]]
    assert flags == [("system", False), ("user", False), ("assistant", False), ("tool", False),
                     ("assistant", True), ("tool", False), ("assistant", True)]
    assert all("weight" not in m or m["weight"] is None for m in row["messages"])
    assert row["messages"][4]["tool_calls"][0]["id"] == "y"
