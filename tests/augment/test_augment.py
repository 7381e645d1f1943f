"""Reasoning augmentation: the checks, the request it sends (screen before, over real HTTP),
rejects kept, and the CLI offline with the embedded policy: resumable, budgeted, manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from stepsieve import ConfigError
from stepsieve.augment import Augmenter, AugmentOptions, check_thought
from stepsieve.formats import open_writer, read_trajectories
from stepsieve.trajectory import Action, Label, Step, Trajectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _cli import run_cli
from _multimodal import ChatCapture, chat_backend, content_of, write_gui_file

TRUTH_OK = {"truth": Label(1.0, "correct")}
TRUTH_BAD = {"truth": Label(0.0, "incorrect")}


def _toolcalc(tid: str = "tc1") -> Trajectory:
    """A toolcalc episode as `stepsieve sample --world toolcalc` writes it (truth labels)."""
    def call(i: int, name: str, args: str) -> dict:
        return {"tool_call": {"id": f"call_{i}", "type": "function",
                              "function": {"name": name, "arguments": args}}}
    return Trajectory(
        tid,
        [{"role": "system", "content": "Solve with the tools; then call `answer`."},
         {"role": "user", "content": "Mia has 4 coins. She gets 5 more. She doubles them. How many?"}],
        [Step(0, "calculator 4 + 5", "action", "9", labels=dict(TRUTH_OK),
              meta=call(0, "calculator", '{"expression":"4 + 5"}')),
         Step(1, "calculator 9 * 3", "action", "27", labels=dict(TRUTH_BAD),
              meta=call(1, "calculator", '{"expression":"9 * 3"}')),
         Step(2, "answer 27", "action", "submitted", labels=dict(TRUTH_OK),
              meta=call(2, "answer", '{"answer":"27"}'))],
        meta={"world": "toolcalc"},
    )


def test_checks():
    t = _toolcalc()
    ok = {"min_chars": 10, "max_chars": 200, "tolerance": 12}
    assert check_thought("I have 4 coins and get 5 more, so I add them first.", t, t.steps[0], **ok) is None
    assert check_thought("   ", t, t.steps[0], **ok) == "empty"
    assert check_thought("add", t, t.steps[0], **ok).startswith("too short")
    assert check_thought("x" * 300, t, t.steps[0], **ok).startswith("too long")
    assert check_thought("Now I can answer with 9 coins.", t, t.steps[0], **ok) == "names another action: answer"
    assert check_thought("All operations are done, so I submit it.", t, t.steps[2], **ok) is None
    click = Step(1, "click(300, 160)", "action", actions=[Action("click", x=300, y=160)])
    gui = Trajectory("g", "buy", [click])
    assert check_thought("The Add button is at (305, 158), so I click it.", gui, click, **ok) is None
    assert check_thought("I click Pay at (700, 400) to finish.", gui, click, **ok) == "names another target: (700, 400)"


def test_screen_before_goes_to_the_model_and_rejects_are_kept(tmp_path: Path):
    src = write_gui_file(tmp_path)
    srv = ChatCapture("The mug is on the home page, so I add it to the cart first.",
                      {"[Next action 2]": "I press the Pay button at (100, 900) now."})
    try:
        aug = Augmenter(chat_backend(srv), AugmentOptions(keep="all"), source=src)
        gui, _text = list(aug.grade(read_trajectories(src)))
    finally:
        srv.close()
    parts = content_of(srv, "[Next action 1]\nclick(300")
    assert [p["type"] for p in parts].count("image_url") == 1  # the screen the agent acted on
    assert gui.steps[1].thought.startswith("The mug is on the home page")
    rejected = gui.steps[2].meta["augment"]
    assert gui.steps[2].thought is None and rejected["check"] == "names another target: (100, 900)"
    assert rejected["rejected_thought"].startswith("I press the Pay button")
    meta = gui.steps[1].meta["augment"]
    assert meta["check"] == "ok" and meta["cost"]["tokens_in"] > 0 and len(meta["template_sha256"]) == 64
    assert gui.meta["augment"]["hash"] == aug.hash and gui.meta["augment"]["written"] == 2
    assert aug.counts["rejected: names another target"] == 1
    assert aug.counts["written"] + aug.counts["rejected"] == aug.counts["kept_actions"] == 5


def test_label_is_required_and_checked(tmp_path: Path):
    with pytest.raises(ConfigError, match="--label"):
        AugmentOptions()
    srv = ChatCapture("because")
    try:
        aug = Augmenter(chat_backend(srv), AugmentOptions(label="judge"))
        with pytest.raises(ConfigError, match=r"no label 'judge'.*truth"):
            list(aug.grade([_toolcalc()]))
    finally:
        srv.close()


def test_cli_offline_embedded_policy_resumes_and_is_budgeted(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    src, out = tmp_path / "tc.jsonl", tmp_path / "aug.jsonl"
    with open_writer(src) as w:
        w.write(_toolcalc())
    env_cache = ["--no-cache"]
    argv = ["augment", src, out, "--label", "truth", *env_cache]
    code, stdout, err = run_cli([*argv, "--max-cost", "requests=1"], capsys)
    assert (code == 2 and "budget" in err.lower() and not out.exists()) or out.read_text() == ""
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    report = json.loads(stdout.strip().splitlines()[-1])
    c = report["counts"]
    assert c["kept_actions"] == 2 and c.get("written", 0) + c.get("rejected", 0) == 2  # step 1 is not kept
    (t,) = list(read_trajectories(out))
    assert "augment" not in (t.steps[1].meta or {}) and t.steps[1].thought is None
    for s in (t.steps[0], t.steps[2]):
        a = s.meta["augment"]
        assert a["generator"].startswith("transformers:policy") and a["cost"]["calls"] == 1
        assert (a["check"] == "ok") == (s.thought is not None)
        assert a["check"] == "ok" or a["rejected_thought"] is not None
    assert json.loads(Path(f"{out}.manifest.json").read_text())["verb"] == "augment"
    code, stdout, _ = run_cli(argv, capsys)
    again = json.loads(stdout.strip().splitlines()[-1])
    assert code == 0 and again["already_done"] == 1 and again["graded"] == 0 and again["backend"]["calls"] == 0
