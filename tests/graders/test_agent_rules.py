"""agent-rules: each check on a hand-built trajectory, abstention elsewhere, and the plug-in."""

from __future__ import annotations

from stepsieve.graders import GRADERS
from stepsieve.graders.agent_rules import AgentRulesGrader
from stepsieve.trajectory import Action, MediaRef, Step, Trajectory


def _bash(i: int, cmd: str, obs: str | None, **meta) -> Step:
    a = Action("tool", name="bash", arguments=f'{{"command": "{cmd}"}}', id=f"c{i}")
    return Step(i, f"bash({a.arguments})", "action", observation=obs, meta=meta or None, actions=[a])


def _grade(steps: list[Step], **opts) -> list[tuple[str | None, str]]:
    t = Trajectory("t", "task", steps)
    (out,) = AgentRulesGrader(**opts).grade([t])
    return [(s.labels["agent-rules"].verdict, s.labels["agent-rules"].rationale or "") for s in out.steps]


def test_failed_calls_are_incorrect_and_clean_calls_abstain():
    got = _grade(
        [
            _bash(0, "ls", "a b"),
            _bash(1, "cat x", "cat: x: No such file", returncode=1),
            _bash(2, "grep foo y", "", returncode=1),  # grep found nothing: an answer, not a failure
            _bash(
                3,
                "python t.py",
                "Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero",
            ),
            _bash(4, "rm z", "denied", is_error=True),
            Step(5, "I will look again.", "reasoning"),
        ]
    )
    assert [v for v, _ in got] == [None, "incorrect", None, "incorrect", "incorrect", None]
    assert "exit code 1" in got[1][1] and "tool error" in got[3][1] and "marks the result" in got[4][1]


def test_repeat_needs_the_same_call_right_before_with_the_same_observation():
    got = _grade([_bash(0, "ls", "a"), _bash(1, "ls", "a"), _bash(2, "pwd", "/"), _bash(3, "ls", "a")])
    assert [v for v, _ in got] == [None, "incorrect", None, None]
    assert "repeat of step 0" in got[1][1]


def _shot(sha: str, role: str = "after") -> MediaRef:
    return MediaRef(path=f"o.media/{sha[:2]}/{sha}.png", sha256=sha * 32, size=1, role=role)


def test_no_effect_of_a_click_that_left_the_screen_unchanged():
    def click(i, sha, before=None, kind="click"):
        images = ([_shot(before, "before")] if before else []) + [_shot(sha)]
        return Step(i, kind, "action", observation="", images=images, actions=[Action(kind, x=5, y=6, id=f"c{i}")])

    got = _grade([click(0, "aa"), click(1, "aa"), click(2, "bb")])
    assert [v for v, _ in got] == [None, "incorrect", None]
    assert "no effect" in got[1][1]
    wait = [Step(i, "wait", "action", observation="", actions=[Action("wait")]) for i in range(2)]
    assert [v for v, _ in _grade(wait)] == [None, None]
    # a step that shows its own before and after screens: unchanged is no effect (a hover is not)
    got = _grade([click(0, "cc", before="cc"), click(1, "dd", before="cc"), click(2, "dd", "dd", kind="move")])
    assert [v for v, _ in got] == ["incorrect", None, None]
    assert "screen after the action is the screen before it" in got[0][1]


def test_malformed_arguments_and_acting_after_the_end():
    bad = Step(
        0, "f({oops)", "action", observation="ok", actions=[Action("tool", name="f", arguments="{oops")]
    )
    submit = Step(
        1, "submit({})", "action", observation="done", actions=[Action("tool", name="submit", arguments="{}")]
    )
    got = _grade([bad, submit, _bash(2, "ls", "a")])
    assert got[0][0] == "incorrect" and "not valid JSON" in got[0][1]
    assert got[1][0] is None and got[2][0] == "incorrect" and "after the run ended at step 1" in got[2][1]
    # a user turn after the end starts new work
    submit.meta = {"after": [{"role": "user", "content": "now also do X"}]}
    assert _grade([bad, submit, _bash(2, "ls", "a")])[2][0] is None
    assert _grade([bad], malformed_arguments=False)[0][0] is None


def test_embedded_toolcalc_steps_without_actions_read_meta_tool_call():
    call = {"id": "c0", "type": "function", "function": {"name": "calc8", "arguments": '{"expression": "1+"'}}
    s = Step(0, "calc8", "action", observation="error: unknown tool", meta={"tool_call": call})
    got = _grade([s])
    assert got[0][0] == "incorrect" and "not valid JSON" in got[0][1] and "tool error" in got[0][1]


def test_registered_as_a_plugin():
    assert "agent-rules" in GRADERS.names()
    assert GRADERS.get("agent-rules") is AgentRulesGrader
