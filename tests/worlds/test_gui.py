"""The gui agent world: deterministic screens and replay, the planner, per-action truth kinds,
the accessibility tree against the rendered pixels, and the action vocabulary."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from stepsieve import DataError
from stepsieve.trajectory import Action, Point
from stepsieve.worlds import AgentWorld, ComputerActions, Screenshots, StepTruth, Task, get_world
from stepsieve.worlds.gui import ActionError, GuiWorld, format_action, to_action
from stepsieve.worlds.gui._planner import INF, Game

W = GuiWorld()
DATA = {
    "items": [["Blue mug", 12], ["Red mug", 9], ["Blue cup", 7], ["Green lamp", 30], ["Black hat", 15],
              ["White mug", 11], ["Pink pen", 3], ["Grey vase", 22]],
    "toggles": [["dark_mode", "Dark mode", False], ["sounds", "Sounds", True], ["location", "Location access", False]],
    "profile": ["Ada Lovelace", "12 Oak St"], "layout_seed": 7, "phrasing": 0,
}
BUY = Task("buy", "Buy two blue mugs.", "", {**DATA, "goal": {"kind": "buy", "items": [[0, 2]], "name": None}})
DARK = Task("dark", "Turn on dark mode and save.", "", {**DATA, "goal": {"kind": "settings", "set": [[0, True]]}})


def at(task: Task, actions: list[str], wid: str) -> str:
    """A click on the centre of widget ``wid`` as the tree after ``actions`` shows it."""
    m = re.search(rf"^\[{wid}\] \w+ \".*?\" \((\d+),(\d+)\)", W.a11y(task, actions), re.M)
    assert m is not None, f"{wid} not on screen:\n{W.a11y(task, actions)}"
    return f"click({m.group(1)}, {m.group(2)})"


def test_is_an_agent_world_with_screens_and_step_truth() -> None:
    w = get_world("gui")
    assert isinstance(w, AgentWorld) and isinstance(w, StepTruth)
    assert isinstance(w, Screenshots) and isinstance(w, ComputerActions)


def test_tasks_screens_and_png_bytes_are_a_function_of_the_seed() -> None:
    a, b = GuiWorld().sample_tasks(6, 3), GuiWorld().sample_tasks(6, 3)
    assert [t.id for t in a] == [t.id for t in b] and [t.problem for t in a] == [t.problem for t in b]
    assert [t.id for t in GuiWorld().sample_tasks(6, 4)] != [t.id for t in a]
    for t in a[:3]:
        ref = W.reference(t)
        for k in (0, len(ref) // 2, len(ref)):
            assert GuiWorld().screenshot(t, ref[:k]) == GuiWorld().screenshot(t, ref[:k])
            assert GuiWorld().a11y(t, ref[:k]) == W.a11y(t, ref[:k])
    # layout jitter: the same screen of two tasks puts the Cart link in different places
    spots = {re.search(r"\[nav_cart\] link \"Cart \(0\)\" (\(\d+,\d+\))", W.a11y(t)).group(1) for t in a}
    assert len(spots) > 1


def test_replay_of_any_prefix_matches_the_full_run() -> None:
    t = W.sample_tasks(1, 11, steps=(7, 9))[0]
    acts = ["click(1, 470)", *W.reference(t)[:3], 'type("x")', "wait()"]
    full = W.run(t, acts)
    obs = W.replay(t, acts)
    for k in range(len(acts) + 1):
        assert [tr.after for tr in W.run(t, acts[:k])] == [tr.after for tr in full[:k]]
        assert W.replay(t, acts[:k]) == obs[:k]
        assert GuiWorld().prompt(t, acts[:k]) == W.prompt(t, acts[:k])


def test_the_planner_solves_every_task_within_the_knob() -> None:
    tasks = W.sample_tasks(30, 5, steps=(3, 12))
    assert {t.data["goal"]["kind"] for t in tasks} == {"open", "cart", "buy", "settings"}
    for t in tasks:
        ref = W.reference(t)
        assert 3 <= len(ref) <= 12 and ref[-1] == "done()" and W.done(ref)
        assert W.check_answer(t, W.parse_answer("\n".join(ref)))
        assert all(ok for ok, _ in W.step_truth(t, ref)) and W.first_error(t, ref) == -1
    short = W.sample_tasks(5, 6, steps=5)
    assert all(len(W.reference(t)) == 5 for t in short)


def test_pruned_planner_distance_equals_a_search_over_every_action() -> None:
    vase = Task("open", "Open the page of the grey vase.", "", {**DATA, "goal": {"kind": "open", "item": 7}})
    for task in (DARK, vase):
        g = Game(task.data)
        for prefix in ([], [at(task, [], "signin")], [at(task, [], "nav_cart")]):
            st = W.state(task, prefix)
            assert g._search(st)[0] == g._search(st, prune=False, limit=8)[0] < INF


def test_truth_kinds_on_hand_made_actions() -> None:
    buy: list[str] = []
    buy.append(at(BUY, buy, "item0"))  # open the blue mug
    assert W.step_truth(BUY, buy) == [(True, None)]
    kinds = {
        "no_op": ["click(2, 470)"],  # empty space
        "invalid": ["click(900, 10)"],
        "premature_done": ["done()"],
        "wrong_target": [at(BUY, buy, "signin")],
    }
    for kind, extra in kinds.items():
        ok, x = W.step_truth(BUY, buy + extra)[-1]
        assert not ok and x is not None and x["kind"] == kind, (kind, x)
    assert W.step_truth(BUY, [*buy, "scrub(1, 2)"])[-1][1]["error"].startswith("unknown action type 'scrub'")
    # one mug in the cart, then to the cart: not yet (a second mug is due); removing it: regress
    one = [*buy, at(BUY, buy, "add")]
    cart = [*one, at(BUY, one, "nav_cart")]
    assert W.step_truth(BUY, cart) == [(True, None), (True, None), (False, {"kind": "wrong_target"})]
    assert W.step_truth(BUY, [*cart, at(BUY, cart, "remove0")])[-1] == (False, {"kind": "regress"})
    # check out with one mug instead of two: confirming the order makes the goal unreachable
    co = [*cart, at(BUY, cart, "checkout")]
    co.append(at(BUY, co, "place"))
    co.append(at(BUY, co, "confirm"))
    truth = W.step_truth(BUY, [*co, at(BUY, co, "nav_shop")])
    assert truth[-2] == (False, {"kind": "goal_unreachable"})
    assert truth[-1] == (False, {"kind": "goal_unreachable", "already": True})
    assert W.first_error(BUY, co) == 2 and not W.check_answer(BUY, "\n".join([*co, "done()"]))
    # the whole purchase done right: every action shortens the plan, and the episode succeeds
    two = [*one, at(BUY, one, "add")]
    good = [*two, at(BUY, two, "nav_cart")]
    for wid in ("checkout", "place", "confirm"):
        good.append(at(BUY, good, wid))
    good.append("done()")
    assert all(ok for ok, _ in W.step_truth(BUY, good)) and W.check_answer(BUY, "\n".join(good))
    # settings: turning the goal switch on and then off again is a regress; done after save is right
    s = [at(DARK, [], "nav_settings")]
    s.append(at(DARK, s, "tg_dark_mode"))
    assert W.step_truth(DARK, [*s, at(DARK, s, "tg_dark_mode")])[-1] == (False, {"kind": "regress"})
    assert W.step_truth(DARK, [*s, at(DARK, s, "tg_sounds")])[-1] == (False, {"kind": "wrong_target"})
    s.append(at(DARK, s, "save"))
    assert all(ok for ok, _ in W.step_truth(DARK, [*s, "done()"]))
    assert W.check_answer(DARK, W.parse_answer("\n".join([*s, "done()"])))
    assert W.parse_answer("\n".join(s)) is None  # never said done


def test_the_tree_names_what_is_drawn_where() -> None:
    t = BUY
    for prefix in ([], [at(t, [], "item0")], [at(t, [], "nav_settings")]):
        png = W.screenshot(t, prefix)
        img = Image.open(io.BytesIO(png)).convert("RGB")
        assert img.size == (640, 480)
        tree = W.a11y(t, prefix)
        boxes = re.findall(r"^\[(\w+)\] (\w+) \".*?\" \((\d+),(\d+)\) (\d+)x(\d+)", tree, re.M)
        buttons = [b for b in boxes if b[1] == "button"]
        assert buttons
        bg = img.getpixel((639, 479))
        for wid, _, cx, cy, w, _h in buttons:  # a button is a filled box: its left inner edge is not background
            x1 = int(cx) - int(w) // 2
            assert img.getpixel((x1 + 2, int(cy))) != bg, wid
            assert img.getpixel((x1 - 3, int(cy))) == img.getpixel((x1 - 4, int(cy)))
    dark = [at(DARK, [], "nav_settings")]
    dark += [at(DARK, dark, "tg_dark_mode")]
    dark += [at(DARK, dark, "save")]
    light_px = Image.open(io.BytesIO(W.screenshot(DARK, []))).getpixel((639, 479))
    dark_px = Image.open(io.BytesIO(W.screenshot(DARK, dark))).getpixel((639, 479))
    assert sum(dark_px) < sum(light_px) // 3  # saved dark mode darkens the screen


def test_action_text_maps_one_to_one_to_computer_use_actions() -> None:
    cases = {
        "click(412, 230)": Action("click", x=412, y=230, button="left"),
        'click(5, 6, "right")': Action("click", x=5, y=6, button="right"),
        "double_click(1, 2)": Action("double_click", x=1, y=2),
        'type("2")': Action("type", text="2"),
        'type("say \\"hi\\"")': Action("type", text='say "hi"'),
        'keypress("CTRL", "A")': Action("keypress", keys=["CTRL", "A"]),
        "scroll(320, 240, 0, -200)": Action("scroll", x=320, y=240, scroll_x=0, scroll_y=-200),
        "drag(1, 2, 3, 4)": Action("drag", path=[Point(1, 2), Point(3, 4)]),
        "move(3, 4)": Action("move", x=3, y=4), "wait()": Action("wait"), "done()": Action("done"),
    }
    for text, action in cases.items():
        assert to_action(text) == action and format_action(action) == text
        assert to_action(f"> {text}") == action
    for bad, why in [("scrub(1, 2)", "unknown action type"), ("click(1)", "2 integer"), ("type(2)", "JSON string"),
                     ("click(1, 2", "not an action"), ("type(__import__('os'))", "not a JSON list"),
                     ("drag(1, 2, 3)", "even number")]:
        with pytest.raises(ActionError, match=re.escape(why)):
            to_action(bad)
    assert W.to_actions("click(3, 4)", "call_0") == [Action("click", id="call_0", x=3, y=4, button="left")]
    assert W.to_actions("hello", "call_1") == []


def test_task_from_trajectory_checks_the_stored_task() -> None:
    class T:
        def __init__(self, data: dict) -> None:
            self.id = "x"
            self.meta = {"world": "gui", "task": {"id": "b", "problem": "p", "answer": "", "data": data}}

    assert W.task_from_trajectory(T(BUY.data)).data["goal"]["kind"] == "buy"
    with pytest.raises(DataError, match="not gui task data"):
        W.task_from_trajectory(T({**DATA, "goal": {"kind": "fly"}}))
