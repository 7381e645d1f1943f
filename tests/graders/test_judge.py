"""The judge grader: strict parsing, votes, templates, on a scripted backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stepsieve import ConfigError
from stepsieve.backends._protocol import Generation
from stepsieve.graders.judge import JudgeGrader, parse_boxed_index, parse_boxed_verdict
from stepsieve.trajectory import Cost

sys.path.insert(0, str(Path(__file__).parent))
from _fakes import toy


class Replies:
    """Answers every prompt with the next scripted list of replies (one per vote)."""

    name = "scripted"
    model = "judge-script"

    def __init__(self, script):
        self.script = list(script)
        self.prompts = []
        self.cost = Cost()
        self.kw = None

    def generate(self, prompts, **kw):
        self.kw = kw
        self.prompts += prompts
        out = []
        for p in prompts:
            texts = self.script.pop(0)
            assert len(texts) == kw["n"]
            out.append([Generation(x, 5, prompt_tokens=len(p)) for x in texts])
        self.cost = self.cost + Cost(len(prompts), 100 * len(prompts), 5 * kw["n"] * len(prompts), 0.5)
        return out


def test_parsers_are_strict():
    assert parse_boxed_index(r"step 2 is wrong. \boxed{2}", 4) == 2
    assert parse_boxed_index(r"\boxed{-1}", 4) == -1
    assert parse_boxed_index(r"\boxed{4}", 4) is None  # out of range
    assert parse_boxed_index("the answer is 2", 4) is None  # no box
    assert parse_boxed_index(r"\boxed{1} ... \boxed{step two}", 4) is None  # the last box decides
    assert parse_boxed_verdict(r"\boxed{\text{Incorrect}}") is False
    assert parse_boxed_verdict(r"\boxed{correct}") is True
    assert parse_boxed_verdict(r"\boxed{maybe}") is None


def test_first_error_one_call_per_trajectory():
    be = Replies([[r"Paragraph 1 is wrong: \boxed{1}"], [r"All good. \boxed{-1}"]])
    out = list(JudgeGrader(be).grade([toy("a", ["x", "y", "z"]), toy("b", ["x", "y"])]))
    assert len(be.prompts) == 2 and "<paragraph_2>\nz\n</paragraph_2>" in be.prompts[0]
    assert [s.labels["judge"].verdict for s in out[0].steps] == ["correct", "incorrect", None]
    assert out[1].first_error("judge") == -1
    lab0 = out[0].steps[0].labels["judge"]
    assert lab0.cost.calls == 1 and lab0.cost.tokens_out == 5 and out[0].steps[1].labels["judge"].cost.calls == 0
    # each item's own prompt tokens, not a batch average (#16)
    assert lab0.cost.tokens_in == len(be.prompts[0]) != out[1].steps[0].labels["judge"].cost.tokens_in
    assert "Paragraph 1 is wrong" in lab0.rationale
    assert be.kw["temperature"] == 0.0


def test_votes_majority_and_scores():
    be = Replies([[r"\boxed{2}", r"\boxed{1}", r"\boxed{2}", "no idea"]])
    (t,) = JudgeGrader(be, votes=4).grade([toy("a", ["w", "x", "y", "z"])])
    labs = [s.labels["judge"] for s in t.steps]
    assert [lab.verdict for lab in labs] == ["correct", "correct", "incorrect", None]
    # share of the 3 parsed votes that put the first error after step i
    assert [lab.score for lab in labs] == [1.0, pytest.approx(2 / 3), 0.0, 0.0]
    sha = labs[0].extra.pop("prompt_sha256")
    assert labs[0].extra == {"votes": [2, 1, 2, None], "first_error": 2} and len(sha) == 64
    assert be.kw["n"] == 4 and be.kw["temperature"] == 0.7


def test_vote_tie_goes_to_the_earliest_error():
    be = Replies([[r"\boxed{2}", r"\boxed{0}"]])
    (t,) = JudgeGrader(be, votes=2).grade([toy("a", ["x", "y", "z"])])
    assert t.first_error("judge") == 0


def test_unparseable_gives_none_and_keeps_raw_text():
    be = Replies([["I think the third step looks off"]])
    (t,) = JudgeGrader(be).grade([toy("a", ["x", "y", "z"])])
    labs = [s.labels["judge"] for s in t.steps]
    assert all(lab.verdict is None and lab.score is None for lab in labs)
    assert "third step looks off" in labs[0].rationale
    assert t.first_error("judge") is None


def test_per_step_mode_and_template_override(tmp_path):
    tpl = tmp_path / "mine.txt"
    tpl.write_text("Q: {{problem}}\nBefore: {{history}}\nStep {{index}}: {{step}}\nVerdict in \\boxed{}.")
    be = Replies([[r"\boxed{correct}"] * 3, [r"\boxed{incorrect}", r"\boxed{correct}", r"\boxed{incorrect}"]])
    g = JudgeGrader(be, mode="per-step", votes=3, template=str(tpl))
    (t,) = g.grade([toy("a", ["2 + 2 = 4", "4 * 2 = 9"], task="double it")])
    assert be.prompts[1].startswith("Q: double it\nBefore: <step_0>\n2 + 2 = 4\n</step_0>\nStep 1: 4 * 2 = 9")
    labs = [s.labels["judge"] for s in t.steps]
    assert [lab.verdict for lab in labs] == ["correct", "incorrect"]
    assert labs[1].score == pytest.approx(1 / 3) and labs[1].cost.calls == 3
    assert g.config["template_text"] == tpl.read_text()  # a changed template is a new config hash


def test_bad_options():
    with pytest.raises(ConfigError):
        JudgeGrader(Replies([]), mode="vibes")
    with pytest.raises(ConfigError, match="not a file"):
        JudgeGrader(Replies([]), template="/nonexistent/t.txt")


def test_embedded_verdict_format_is_strict():
    from stepsieve.embedded._formats import parse_verdict, verifier_prompt, verifier_reply

    ref = ["7 + 8 = 15", "15 * 3 = 45", "Answer: 45"]
    reply = verifier_reply(1, 3, ref)
    assert reply == "7 + 8 = 15 +\n15 * 3 = 45 -\nVerdict: 2\n"  # re-derived steps, marks, the number
    assert parse_verdict(reply, 3) == 1
    assert parse_verdict(verifier_reply(-1, 3, ref), 3) == -1
    assert verifier_reply(-1, 2, ref).endswith("15 * 3 = 45 +\nVerdict: none\n")  # stopped before its answer
    assert verifier_prompt("P", ["1 + 1 = 2", "Answer: 2"]) == (
        "Problem: P\nSolution:\n1. 1 + 1 = 2\n2. Answer: 2\nCheck:\n"
    )
    assert parse_verdict("7 + 8 = 15 +\n15 * 3 = 45 -", 3) is None  # cut before the verdict
    assert parse_verdict("Verdict: 4", 3) is None  # no such step
    assert parse_verdict("Verdict: 2 or 3", 3) is None  # the verdict is a whole line
    assert parse_verdict("Verdict: step two", 3) is None
    # format 1 (the first verifier) still reads: marks then the number on one line
    assert parse_verdict(" ++- 3", 4, fmt=1) == 2 and parse_verdict(" +++ none", 3, fmt=1) == -1
    assert verifier_prompt("P", ["x"], fmt=1).endswith("1. x\nVerdict:")


def test_embedded_verifier_directory_and_its_format(tmp_path):
    """A verifier directory names its format in config.json; a model that writes no
    verdict line leaves verdict None with the raw text kept (never a guess)."""
    import json

    from stepsieve.backends._tiny_model import build_tiny_llama

    d = build_tiny_llama(tmp_path / "v", layers=1, hidden_size=64, intermediate_size=64)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "verifier_format": 2}))
    g = JudgeGrader(verifier=d)
    assert g.verifier_format == 2 and g.max_tokens == 256 and g.config["template"] == "embedded-verifier-v2"
    (t,) = g.grade([toy("a", ["1 + 1 = 2", "Answer: 2"], task="One plus one?")])
    lab = t.steps[0].labels["judge"]
    assert lab.verdict is None and lab.rationale.startswith("unparseable judge reply: ")
    assert len(lab.rationale) > len("unparseable judge reply: ") and lab.cost.calls == 1
    (d / "config.json").write_text(json.dumps(cfg))  # no verifier_format: the first verifier's format
    assert JudgeGrader(verifier=d).verifier_format == 1
    with pytest.raises(ConfigError, match="not a verifier directory"):
        JudgeGrader(verifier=tmp_path / "nothing")


def test_embedded_verifier_never_judges_a_truncated_prompt():
    """#16: a prompt over the embedded verifier's 1,024-token window is an error naming the
    trajectory, or with too_long=skip a counted undecided label; never a judgement."""
    from stepsieve import ContextOverflow

    long_problem = "Mia has 4 apples and gets 3 more. " * 40  # ~1,400 characters, one token each
    short, long = toy("short", ["4 + 3 = 7"]), toy("long", ["4 + 3 = 7", "7 * 2 = 14"], task=long_problem)
    with pytest.raises(ContextOverflow, match=r"trajectory 'long'.*context window of 1024"):
        list(JudgeGrader().grade([short, long]))
    g = JudgeGrader(too_long="skip")
    a, b = list(g.grade([short, long]))
    assert a.steps[0].labels["judge"].cost.calls == 1  # the short one was judged
    lab = b.steps[0].labels["judge"]
    assert lab.verdict is None and lab.extra["too_long"] and lab.extra["window"] == 1024
    assert lab.extra["prompt_tokens"] > 1024 and g.counts["too_long"] == 1
