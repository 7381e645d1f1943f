"""The OSWorld importer: result folders (traj.jsonl + a screenshot per action) with their
screenshots as step images, hand-counted, and a computer-use run end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _cli import AGENT_CURATE
from _cli import run_cli as run

from stepsieve import DataError
from stepsieve.formats import read_trajectories
from stepsieve.formats.osworld import pyautogui_action
from stepsieve.media import MediaResolver


def png(colour: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 10), colour).save(buf, format="PNG")
    return buf.getvalue()


def write_example(folder: Path, entries: list[dict], shots: dict[str, str], result: str | None) -> None:
    folder.mkdir(parents=True)
    (folder / "traj.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    for name, colour in shots.items():
        (folder / name).write_bytes(png(colour))
    if result is not None:
        (folder / "result.txt").write_text(result + "\n")


def entry(n: int, action, shot: str | None, response: str | None = None, **kw) -> dict:
    e = {
        "step_num": n,
        "action_timestamp": f"2024@{n}",
        "action": action,
        "reward": 0,
        "done": False,
        "info": {},
    }
    if response is not None:
        e["response"] = response
    if shot is not None:
        e["screenshot_file"] = shot
    return {**e, **kw}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results" / "pyautogui" / "screenshot" / "model"
    write_example(
        root / "chrome" / "ex1",
        [
            entry(1, "import pyautogui\npyautogui.click(412, 230)", "s1.png", "Search box first; then type."),
            entry(1, "pyautogui.typewrite('blue mug')", "s2.png", "Search box first; then type."),
            entry(2, "pyautogui.click(412, 230)", "s3.png", "Click again."),  # s3 is s2's image: no effect
            entry(3, "DONE", "s4.png", "Finished.", done=True),
        ],
        {"s1.png": "white", "s2.png": "blue", "s3.png": "blue", "s4.png": "green"},
        "1.0",
    )
    write_example(
        root / "os" / "ex2",
        [
            entry(1, {"action_type": "CLICK", "parameters": {"x": 5, "y": 6, "button": "right"}}, "a.png"),
            entry(2, "x = 3\npyautogui.moveTo(x, 4)", "b.png"),
            {"Error": "Time limit exceeded in os/ex2"},
        ],
        {"a.png": "red", "b.png": "black"},
        "0.0",
    )
    return tmp_path / "results"


def test_actions_images_and_outcome_counted_by_hand(results: Path) -> None:
    ex1, ex2 = read_trajectories(results, "osworld")
    assert ex1.id == "osworld-chrome/ex1" and ex2.id == "osworld-os/ex2"
    assert [s.actions[0].type for s in ex1.steps] == ["click", "type", "click", "done"]
    a = ex1.steps[0].actions[0]
    assert (a.x, a.y, a.button) == (412, 230, "left") and ex1.steps[1].actions[0].text == "blue mug"
    assert (
        ex1.steps[0].text == "import pyautogui\npyautogui.click(412, 230)"
    )  # the code as the agent wrote it
    # the reply is the thought of the first action it produced
    assert ex1.steps[0].thought == "Search box first; then type." and ex1.steps[1].thought is None
    assert ex1.steps[1].meta["same_reply_as_previous"] is True
    # images: the step's screenshot is its after, the previous one its before
    roles = [[(i.role, Path(i.path).name) for i in s.images] for s in ex1.steps]
    assert roles[0] == [("after", "s1.png")]
    assert roles[2] == [("before", "s2.png"), ("after", "s3.png")]
    assert ex1.steps[0].images[0].path == "pyautogui/screenshot/model/chrome/ex1/s1.png"
    assert (ex1.outcome.reward, ex1.outcome.correct) == (1.0, True)
    assert (ex2.outcome.reward, ex2.outcome.correct) == (0.0, False)
    c13 = ex2.steps[0].actions[0]
    assert (c13.type, c13.x, c13.y, c13.button) == ("click", 5, 6, "right")
    # code that is not one literal call is kept whole, never run
    assert ex2.steps[1].actions[0].type == "tool" and ex2.steps[1].actions[0].name == "pyautogui"
    assert ex2.meta["errors"] == ["Time limit exceeded in os/ex2"]
    assert ex1.meta["instruction"] is False and "chrome/ex1" in ex1.task


def test_the_examples_folder_gives_the_instruction(results: Path, tmp_path: Path) -> None:
    ex = tmp_path / "evaluation_examples" / "examples" / "chrome"
    ex.mkdir(parents=True)
    (ex / "ex1.json").write_text(json.dumps({"id": "ex1", "instruction": "Find a blue mug."}))
    (t,) = read_trajectories(
        results / "pyautogui/screenshot/model/chrome/ex1", "osworld", examples=str(ex.parent)
    )
    assert t.task == "Find a blue mug." and t.meta["instruction"] is True
    assert t.id == "osworld-chrome/ex1"


def test_pyautogui_calls_map_to_computer_actions() -> None:
    def got(code: str):
        a = pyautogui_action(code)
        return None if a is None else (a.type, a.x, a.y, a.button, a.text, a.keys, a.scroll_x, a.scroll_y)

    assert got("pyautogui.doubleClick(x=3, y=4)") == ("double_click", 3, 4, None, None, None, None, None)
    assert got("pyautogui.rightClick(3, 4)") == ("click", 3, 4, "right", None, None, None, None)
    assert got("pyautogui.hotkey('ctrl', 'c')")[5] == ["ctrl", "c"]
    assert got("pyautogui.press('enter')\ntime.sleep(0.5)")[5] == ["enter"]
    assert got("pyautogui.scroll(-5)")[6:] == (0, 5)  # pyautogui scrolls down with a negative amount
    assert got("pyautogui.write('hi')")[4] == "hi"
    assert got("pyautogui.click(1, 2)\npyautogui.click(3, 4)") is None  # two calls: kept as code
    assert got("__import__('os').system('rm -rf /')") is None  # parsed, never run
    assert got("pyautogui.click(1, 2") is None  # not Python


def test_missing_screenshot_and_bad_lines_are_named(results: Path, tmp_path: Path, capsys) -> None:
    (results / "pyautogui/screenshot/model/chrome/ex1/s3.png").unlink()
    with pytest.raises(DataError) as e:
        list(read_trajectories(results, "osworld"))
    assert "chrome/ex1/traj.jsonl line 3: screenshot" in str(e.value) and "s3.png is missing" in str(e.value)
    code, out, _ = run(
        ["convert", results, tmp_path / "o.jsonl", "--from", "osworld", "--on-error", "skip"], capsys
    )
    assert code == 0 and "2 read, 1 written, 1 rejected" in out
    bad = tmp_path / "bad" / "traj.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"step_num": 1, "action": "WAIT"}\n{"step_num": 2, "act\n')
    with pytest.raises(DataError, match=r"traj.jsonl:2: traj.jsonl line 2: malformed JSON"):
        list(read_trajectories(bad, "osworld"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no OSWorld run here"):
        list(read_trajectories(tmp_path / "empty", "osworld"))


def test_a_computer_use_rollout_end_to_end(results: Path, tmp_path: Path, capsys) -> None:
    """OSWorld folder -> canonical records with their own media -> agent-rules -> curate -> export."""
    code, out, err = run(["convert", results, tmp_path / "runs.jsonl", "--from", "osworld"], capsys)
    assert code == 0 and "2 read, 2 written, 0 rejected, 5 images carried" in out, err
    assert len(list((tmp_path / "runs.jsonl.media").rglob("*.png"))) == 5  # s2 and s3 are one image
    code, _, err = run(
        ["grade", tmp_path / "runs.jsonl", tmp_path / "g.jsonl", "--grader", "agent-rules"], capsys
    )
    assert code == 0, err
    ex1 = next(iter(read_trajectories(tmp_path / "g.jsonl")))
    verdicts = [s.labels["agent-rules"].verdict for s in ex1.steps]
    assert verdicts == [None, None, "incorrect", None]  # the click that changed nothing
    assert "screen after the action is the screen before it" in ex1.steps[2].labels["agent-rules"].rationale
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
    kept = list(read_trajectories(tmp_path / "kept.jsonl"))
    resolver = MediaResolver(tmp_path / "kept.jsonl")
    assert resolver.read(kept[0].steps[3].images[-1]) == png("green")
    code, _, err = run(
        ["export", tmp_path / "kept.jsonl", "-o", tmp_path / "sft.jsonl", "--format", "openai-chat"], capsys
    )
    assert code == 0, err
    rows = [json.loads(x) for x in (tmp_path / "sft.jsonl").read_text().splitlines()]
    weights = {m.get("content") or "": m["weight"] for m in rows[0]["messages"] if m["role"] == "assistant"}
    assert [w for text, w in weights.items() if "Click again." in text] == [0]  # the no-effect click: no loss
    assert sorted(weights.values())[-1] == 1
