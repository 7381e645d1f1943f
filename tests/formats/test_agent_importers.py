"""Agent-log importers on the real samples (tests/fixtures/agents, copied unchanged with their
licences), through the real CLI, plus small cases from each format's documentation.

Every expected count below was derived by hand from the file, as each comment says."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
from pathlib import Path

import pytest
from _cli import AGENT_CURATE
from _cli import run_cli as run

from stepsieve import DataError
from stepsieve.formats import get_format, read_trajectories

AG = Path(__file__).parent.parent / "fixtures" / "agents"


# (format, sample, trajectories, steps, actions, steps with an observation, unknown events,
#  openai-chat export: assistant messages, tool messages)
SAMPLES = [
    # short.jsonl: lines 5-8 and 10 are assistant events of ONE message (msg_01MKH...): one step;
    # tool_use on lines 8 (Bash) and 10 (Glob); both results on lines 11-12 -> 1 observed step.
    ("claude-code", "claude-code/short.jsonl", 1, 1, 2, 1, 0, 1, 2),
    # tool_heavy.jsonl: message ids 0167 (l.5), 01NU (l.12-13), 01Lb (l.27-30, 2 tool_use), 019B
    # (l.34 and l.37, results between) -> 4 steps, 6 tool_use, each step answered.
    ("claude-code", "claude-code/tool_heavy.jsonl", 1, 4, 6, 4, 0, 4, 6),
    # 6 messages: system, user, then 2 assistant/user pairs, one bash block each.
    ("mini-swe-agent", "mini-swe-agent/testdata_local.traj.json", 1, 2, 2, 2, 0, 2, 2),
    # 22 messages: system, user, then 10 assistant/user pairs, one bash block each.
    ("mini-swe-agent", "mini-swe-agent/testdata_github_issue.traj.json", 1, 10, 10, 10, 0, 10, 10),
    # history of 12: system, user, then 5 assistant (one tool_call each) / tool pairs.
    ("swe-agent", "swe-agent/demo__function_calling_simple.traj", 1, 5, 5, 5, 0, 5, 5),
    # 6 events: user/agent messages alternate; agent events 3 and 9 are messages, 15 is finish
    # (a call with no observation event after it).
    ("openhands", "openhands/basic_interactions.json", 1, 3, 1, 0, 0, 3, 0),
    # 8 event files: SystemPrompt, user Message, Action(terminal)+Observation, Action(finish)
    # +Observation, user Message, agent Message -> 3 steps, 2 actions, 2 observed.
    ("openhands", "openhands/v1_sdk_conversation", 1, 3, 2, 2, 0, 3, 2),
    # last interaction: input = user, function_call, function_call_output; output = message.
    (
        "openai-agents",
        "openai/test_openai_responses_model_simple_response_with_tool_call.yaml",
        1,
        2,
        1,
        1,
        0,
        2,
        1,
    ),
    # 4 GENERATION observations (3 tool_call parts in the first, final_result in the last),
    # 3 TOOL observations answer the first one's calls; final_result has no tool span.
    ("otel-genai", "otel-genai/pydantic-ai-tools-2025-12-04.trace.json", 1, 4, 4, 1, 0, 4, 3),
    # 6 entries; assistant messages 11+17+7+15+5+11 = 66, tool_calls 6+10+2+8+0+7 = 33, each in its
    # own assistant message and each answered by one tool message.
    ("tau-bench", "tau-bench/tau1_gpt-4o-airline.subset6.json", 6, 66, 33, 33, 0, 66, 33),
    # one sample: system, user, assistant "Yes\n".
    ("inspect", "inspect-ai/log_read_sample.eval", 1, 1, 0, 0, 0, 1, 0),
]


def _needs(fmt: str) -> None:
    if fmt == "inspect":
        pytest.importorskip("inspect_ai")


@pytest.mark.parametrize(
    ("fmt", "sample", "n", "steps", "actions", "observed", "unknown", "asst", "tools"), SAMPLES
)
def test_sample_imports_with_hand_counted_steps(
    fmt, sample, n, steps, actions, observed, unknown, asst, tools, tmp_path, capsys
):
    _needs(fmt)
    out = tmp_path / "out.jsonl"
    code, text, err = run(["convert", AG / sample, out, "--from", fmt], capsys)
    assert code == 0, err
    assert text.strip() == f"{n} read, {n} written, 0 rejected"
    ts = list(read_trajectories(out))
    assert len(ts) == n
    assert sum(len(t.steps) for t in ts) == steps
    assert sum(len(s.actions) for t in ts for s in t.steps) == actions
    assert sum(s.observation is not None for t in ts for s in t.steps) == observed
    assert sum(len(t.meta.get("unknown_events", [])) for t in ts) == unknown
    for t in ts:  # an action step's text is its calls; its kind says so
        for s in t.steps:
            assert (s.kind == "action") == bool(s.actions)
    code, text, _ = run(["inspect", out, "--json"], capsys)
    summary = json.loads(text)
    assert (summary["steps"], sum(summary["actions"].values()), summary["observations"]) == (
        steps,
        actions,
        observed,
    )
    # and as an OpenAI chat a person recognises as the same run
    chat = tmp_path / "chat.jsonl"
    code, _, err = run(["convert", out, chat, "--to", "openai-chat"], capsys)
    assert code == 0, err
    msgs = [m for line in chat.read_text().splitlines() for m in json.loads(line)["messages"]]
    assert sum(m["role"] == "assistant" for m in msgs) == asst
    assert sum(m["role"] == "tool" for m in msgs) == tools
    calls = {c["id"] for m in msgs for c in m.get("tool_calls") or []}
    assert all(m["tool_call_id"] in calls for m in msgs if m["role"] == "tool")


def _one(fmt: str, sample: str):
    _needs(fmt)
    (t,) = list(read_trajectories(AG / sample, fmt))
    return t


def test_claude_code_fields():
    t = _one("claude-code", "claude-code/short.jsonl")
    assert t.id == "55604662-cf2a-4331-851a-ec234028f8ca"
    assert t.task == [{"role": "user", "content": "mix phx.server doesnt seem to start"}]
    s = t.steps[0]
    a = s.actions[0]
    assert (a.type, a.name, a.id) == ("tool", "Bash", "toolu_0116Hyi5v8ut7Ffb7d8qV1Sc")
    assert json.loads(a.arguments) == {"command": "mix phx.server 2>&1 | head -80", "timeout": 30000}
    assert s.text.splitlines()[0] == f"Bash({a.arguments})"
    assert s.meta["is_error"] is True and s.meta["observations"][0].startswith(
        "The user doesn't want to proceed"
    )
    assert s.thought.startswith("The user is having trouble starting their Phoenix server.")
    assert len(t.meta["other_events"]) == 6  # 1 snapshot, 3 progress, 2 system (lines 1-3, 9, 14, 15)


def test_mini_swe_agent_fields():
    t = _one("mini-swe-agent", "mini-swe-agent/testdata_github_issue.traj.json")
    s0 = t.steps[0]
    assert s0.actions[0].name == "bash"
    assert json.loads(s0.actions[0].arguments)["command"].startswith("cat /Users/fuchur/")
    assert s0.meta["returncode"] == 1 and s0.meta["is_error"] is True
    assert "No such file or directory" in s0.observation
    assert t.outcome.answer.startswith("diff --git a/tests/missing_colon.py")  # legacy: the submit output


def test_swe_agent_openhands_otel_tau_openai_fields():
    t = _one("swe-agent", "swe-agent/demo__function_calling_simple.traj")
    assert (t.steps[0].actions[0].name, t.steps[0].actions[0].arguments) == (
        "find_file",
        '{"file_name":"missing_colon.py"}',
    )
    assert t.steps[-1].actions[0].name == "submit" and "diff --git" in t.steps[-1].observation
    t = _one("openhands", "openhands/v1_sdk_conversation")
    assert t.steps[0].actions[0].name == "terminal" and t.steps[0].meta["returncode"] == 0
    assert t.outcome.answer == "The current directory has been written to tool_output.txt."
    t = _one("openhands", "openhands/basic_interactions.json")
    assert t.steps[2].actions[0].name == "finish" and t.steps[2].actions[0].arguments == "{}"
    t = _one("otel-genai", "otel-genai/pydantic-ai-tools-2025-12-04.trace.json")
    first = t.steps[0]
    assert [a.name for a in first.actions] == [
        "get_pun_suggestion",
        "get_dad_joke_suggestion",
        "get_one_liner_suggestion",
    ]
    assert first.meta["observations"][1].startswith("Dad joke idea:")
    assert t.steps[3].meta["span"]["agent"] == "evaluator_agent"
    ts = list(read_trajectories(AG / "tau-bench/tau1_gpt-4o-airline.subset6.json", "tau-bench"))
    assert [(t.id, t.outcome.reward, t.outcome.correct) for t in ts][:1] == [("tau-6-0", 1.0, True)]
    assert [t.outcome.correct for t in ts] == [True, True, True, False, False, False]
    assert ts[0].steps[1].actions[0].name == "get_user_details"  # step 0 asks for the user id
    t = _one("openai-agents", "openai/test_openai_responses_model_simple_response_with_tool_call.yaml")
    assert (t.steps[0].actions[0].name, t.steps[0].observation) == ("get_capital", "Potato City")
    assert t.outcome.answer == "The capital of PotatoLand is Potato City."


def test_inspect_fields():
    t = _one("inspect", "inspect-ai/log_read_sample.eval")
    assert t.id == "C3pqnFnsCUx6ZpmsRU9Ape/1/1" and t.steps[0].text == "Yes\n"
    assert (t.outcome.correct, t.outcome.answer) == (True, "Yes")


def test_inspect_without_inspect_ai_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "inspect_ai.log", None)  # import fails as if not installed
    from stepsieve._errors import ConfigError

    with pytest.raises(ConfigError, match=r"pip install 'stepsieve\[inspect\]'"):
        list(read_trajectories(AG / "inspect-ai/log_read_sample.eval", "inspect"))


def test_empty_agents_run_state_is_a_clear_error():
    # minimal_v1_17.json is a saved RunState with no items at all: nothing to make a step of.
    with pytest.raises(DataError, match="empty step list"):
        list(read_trajectories(AG / "openai/minimal_v1_17.json", "openai-agents"))


# ---- small cases from the formats' documentation -------------------------------------------


def _cc(events: list[dict]) -> str:
    return "\n".join(json.dumps(e) for e in events) + "\n"


_CC = [
    {"type": "user", "sessionId": "s1", "uuid": "u1", "message": {"role": "user", "content": "list files"}},
    {
        "type": "assistant",
        "sessionId": "s1",
        "uuid": "a1",
        "message": {
            "id": "m1",
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}],
        },
    },
    {
        "type": "user",
        "sessionId": "s1",
        "uuid": "u2",
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a\nb"}],
        },
    },
    {
        "type": "assistant",
        "sessionId": "s1",
        "uuid": "a2",
        "message": {"id": "m2", "role": "assistant", "content": [{"type": "text", "text": "Two files."}]},
    },
]


def test_claude_code_truncated_line_raises_or_is_quarantined_alone(tmp_path, capsys):
    p = tmp_path / "s.jsonl"
    p.write_text(_cc(_CC) + '{"type": "assistant", "message": {"id": "m3", "con')
    with pytest.raises(DataError, match=r"s\.jsonl:5: truncated final line"):
        list(read_trajectories(p, "claude-code"))
    code, text, _ = run(
        ["convert", p, tmp_path / "o.jsonl", "--from", "claude-code", "--on-error", "skip"], capsys
    )
    assert code == 0 and text.strip() == "2 read, 1 written, 1 rejected"
    (t,) = read_trajectories(tmp_path / "o.jsonl")
    assert [s.kind for s in t.steps] == ["action", "reasoning"] and t.steps[0].observation == "a\nb"
    assert t.outcome.answer == "Two files."


def test_claude_code_unknown_event_is_kept_and_counted(tmp_path, capsys):
    p = tmp_path / "s.jsonl"
    p.write_text(_cc([*_CC, {"type": "brand-new-event", "payload": 1}]))
    (t,) = read_trajectories(p, "claude-code")
    assert t.meta["unknown_events"] == [
        {"where": "line 5", "event": {"type": "brand-new-event", "payload": 1}}
    ]
    _, text, _ = run(["inspect", p, "--from", "claude-code", "--json"], capsys)
    assert json.loads(text)["unknown_events"] == 1


def test_claude_code_result_without_call_names_file_line_and_id(tmp_path, capsys):
    bad = [
        *_CC[:2],
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}],
            },
        },
    ]
    p = tmp_path / "s.jsonl"
    p.write_text(_cc(bad))
    with pytest.raises(DataError, match=r"s\.jsonl:3: .*tool_use id 'nope'"):
        list(read_trajectories(p, "claude-code"))
    code, text, _ = run(
        ["convert", p, tmp_path / "o.jsonl", "--from", "claude-code", "--on-error", "skip"], capsys
    )
    assert code == 0 and text.strip() == "1 read, 0 written, 1 rejected"
    rej = json.loads((tmp_path / "o.jsonl.rejected.jsonl").read_text().splitlines()[0])
    assert "nope" in json.dumps(rej)


def _png(colour: str = "red") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), colour).save(buf, format="PNG")
    return buf.getvalue()


def test_anthropic_computer_use_actions_and_images_kept_aside():
    raw = _png()
    png = base64.b64encode(raw).decode()
    rec = {
        "system": "You use a computer.",
        "messages": [
            {"role": "user", "content": "open settings"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Clicking the gear."},
                    {
                        "type": "tool_use",
                        "id": "c1",
                        "name": "computer",
                        "input": {"action": "left_click", "coordinate": [640, 400]},
                    },
                    {
                        "type": "tool_use",
                        "id": "c2",
                        "name": "computer",
                        "input": {"action": "type", "text": "wifi"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "c1",
                        "content": [
                            {"type": "text", "text": "clicked"},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": png},
                            },
                        ],
                    },
                    {"type": "tool_result", "tool_use_id": "c2", "content": "typed", "is_error": False},
                    {"type": "mystery_block", "x": 1},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Done."}]},
        ],
    }
    t = get_format("anthropic").decode(rec)
    s = t.steps[0]
    assert [(a.type, a.x, a.y, a.button, a.text) for a in s.actions] == [
        ("click", 640, 400, "left", None),
        ("type", None, None, None, "wifi"),
    ]
    assert s.text == 'click({"x": 640, "y": 400, "button": "left"})\ntype({"text": "wifi"})'
    assert s.thought == "Clicking the gear." and s.observation == "clicked\ntyped"
    (img,) = s.images
    assert (img.mime, img.size, img.role) == ("image/png", len(raw), "after")
    assert img.sha256 == hashlib.sha256(raw).hexdigest()
    assert t.task[0] == {"role": "system", "content": "You use a computer."}
    assert t.outcome.answer == "Done."
    with pytest.raises(DataError, match="read-only"):
        get_format("anthropic").encode(t)


def test_openai_computer_call_items():
    shot = "data:image/png;base64," + base64.b64encode(_png("blue")).decode()
    items = [
        {"role": "user", "content": "scroll down"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Need to scroll."}]},
        {
            "type": "computer_call",
            "call_id": "cc1",
            "action": {"type": "scroll", "x": 10, "y": 20, "scroll_x": 0, "scroll_y": 300},
        },
        {
            "type": "computer_call_output",
            "call_id": "cc1",
            "output": {"type": "computer_screenshot", "image_url": shot},
        },
        {"type": "web_search_call", "id": "ws1"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Scrolled."}]},
    ]
    t = get_format("openai-agents").decode(items)
    a = t.steps[0].actions[0]
    assert (a.type, a.x, a.y, a.scroll_y, a.id) == ("scroll", 10, 20, 300, "cc1")
    assert t.steps[0].thought == "Need to scroll." and t.steps[0].images[0].size == len(_png("blue"))
    assert len(t.meta["unknown_events"]) == 1 and t.steps[1].text == "Scrolled."
    with pytest.raises(DataError, match="call_id 'zz'"):
        get_format("openai-agents").decode(
            [*items[:3], {"type": "function_call_output", "call_id": "zz", "output": "x"}]
        )


def test_mini_swe_agent_current_layout():
    rec = {
        "info": {"exit_status": "Submitted", "submission": "the patch"},
        "trajectory_format": "mini-swe-agent-1.1",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "task"},
            {
                "role": "assistant",
                "content": "THOUGHT: look\n\n```mswea_bash_command\nls\n```",
                "extra": {"actions": [{"command": "ls"}]},
            },
            {
                "role": "user",
                "content": "<returncode>2</returncode>\n<output>\nerr\n</output>",
                "extra": {"returncode": 2, "raw_output": "err"},
            },
            {"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": "the patch"}},
        ],
    }
    t = get_format("mini-swe-agent").decode(rec)
    s = t.steps[0]
    assert s.text == 'bash({"command": "ls"})' and s.thought == "THOUGHT: look"
    assert s.meta["returncode"] == 2 and s.meta["is_error"] is True
    assert t.outcome.answer == "the patch" and t.meta["exit_status"] == "Submitted"


def test_openhands_v1_unknown_event_kind_is_kept():
    events = [
        {
            "kind": "MessageEvent",
            "source": "user",
            "llm_message": {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        },
        {
            "kind": "MessageEvent",
            "source": "agent",
            "llm_message": {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
        },
        {"kind": "HologramEvent", "x": 1},
    ]
    t = get_format("openhands").decode(events)
    assert t.meta["unknown_events"][0]["event"]["kind"] == "HologramEvent" and t.steps[0].text == "hello"


@pytest.mark.parametrize(
    "fmt,sample",
    [
        ("claude-code", "claude-code/tool_heavy.jsonl"),
        ("mini-swe-agent", "mini-swe-agent/testdata_github_issue.traj.json"),
    ],
)
def test_an_agent_session_goes_grade_curate_export_end_to_end(fmt, sample, tmp_path, capsys):
    """A real Claude Code session and a real mini-swe-agent run: import, grade every action
    (agent-rules), curate, export a chat fine-tuning file that passes OpenAI's documented rules
    with the session's tool calls as real tool_calls."""
    from stepsieve.curate import check_openai_chat_file

    code, _, err = run(["convert", AG / sample, tmp_path / "in.jsonl", "--from", fmt], capsys)
    assert code == 0, err
    code, _, err = run(
        ["grade", tmp_path / "in.jsonl", tmp_path / "g.jsonl", "--grader", "agent-rules"], capsys
    )
    assert code == 0, err
    (t,) = read_trajectories(tmp_path / "g.jsonl")
    assert all("agent-rules" in s.labels for s in t.steps)
    code, _, err = run(
        [
            "curate",
            tmp_path / "g.jsonl",
            "-o",
            tmp_path / "kept.jsonl",
            *AGENT_CURATE,
        ],
        capsys,
    )
    assert code == 0, err
    code, _, err = run(
        ["export", tmp_path / "kept.jsonl", "-o", tmp_path / "chat.jsonl", "--format", "openai-chat"], capsys
    )
    assert code == 0, err
    assert check_openai_chat_file(tmp_path / "chat.jsonl") == []
    row = json.loads((tmp_path / "chat.jsonl").read_text().splitlines()[0])
    calls = [c for m in row["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert len(calls) == sum(len(s.actions) for s in t.steps) > 0
