"""Seeded tasks of the ``gui`` world: a shop catalog, switches, a profile, a goal in words.

Goal kinds (``task.data["goal"]``):

- ``open``: show one product's page (``{"kind": "open", "item": i}``);
- ``cart``: the cart holds exactly these items (``{"kind": "cart", "items": [[i, q], ...]}``);
- ``buy``: exactly one order placed with these items, shipped to ``name`` (None: the
  prefilled profile name) (``{"kind": "buy", "items": [...], "name": ...}``);
- ``settings``: the saved switches match (``{"kind": "settings", "set": [[j, on], ...]}``).

A task is drawn until the planner's shortest plan (``done`` included) falls in the
``steps`` range, so the knob controls difficulty directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from stepsieve._errors import ConfigError, DataError

__all__ = ["GuiKnobs", "draw_task_data", "goal_text", "validate_data"]

COLORS = ("red", "blue", "green", "black", "white", "yellow", "orange", "purple", "grey", "pink")
KINDS = ("mug", "cup", "lamp", "chair", "shirt", "hat", "bag", "pen", "notebook", "clock", "vase", "towel")
TOGGLES = (
    ("dark_mode", "Dark mode"), ("notifications", "Notifications"), ("large_text", "Large text"),
    ("autoplay", "Autoplay videos"), ("location", "Location access"), ("sounds", "Sounds"),
)
PEOPLE = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Emmy Noether", "Kurt Goedel", "Rosalind Franklin")
STREETS = ("12 Oak St", "7 Elm Road", "31 Pine Ave", "4 Lake Lane", "88 Hill St")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@dataclass(frozen=True, slots=True)
class GuiKnobs:
    """Difficulty knobs: the planner's plan length (``done`` included), inclusive range."""

    min_steps: int = 3
    max_steps: int = 12

    def __post_init__(self) -> None:
        if not 2 <= self.min_steps <= self.max_steps <= 16:
            raise ConfigError(f"gui steps must satisfy 2 <= min <= max <= 16, got {self.min_steps}..{self.max_steps}")

    @staticmethod
    def of(**knobs: Any) -> GuiKnobs:
        extra = set(knobs) - {"steps", "ops"}
        if extra:
            raise ConfigError(f"unknown gui knob(s) {sorted(extra)} (known: steps)")
        steps = knobs.get("steps", knobs.get("ops"))  # --ops of the CLI means steps here
        if steps is None:
            return GuiKnobs()
        if isinstance(steps, int):
            return GuiKnobs(steps, steps)
        lo, hi = steps
        return GuiKnobs(int(lo), int(hi))


def _plural(name: str, q: int) -> str:
    low = name.lower()
    if q == 1:
        return f"a {low}"
    return f"{NUMBER_WORDS[q]} {low}es" if low.endswith(("ch", "sh")) else f"{NUMBER_WORDS[q]} {low}s"


def _items_text(data: dict[str, Any], lines: list[list[int]]) -> str:
    parts = [_plural(data["items"][i][0], q) for i, q in lines]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def goal_text(data: dict[str, Any], phrasing: int) -> str:
    """The task in words, from its goal (``phrasing`` picks among a few wordings)."""
    g = data["goal"]
    if g["kind"] == "open":
        name = data["items"][g["item"]][0].lower()
        return ("Open the page of the {}.", "Show me the {}.", "Find the {} in the shop.")[phrasing % 3].format(name)
    if g["kind"] == "cart":
        return ("Add {} to the cart.", "Put {} in my cart.", "Add {} to the cart, but do not check out.")[
            phrasing % 3].format(_items_text(data, g["items"]))
    if g["kind"] == "buy":
        verb = ("Buy", "Order", "Purchase")[phrasing % 3]
        text = f"{verb} {_items_text(data, g['items'])}."
        return text if g.get("name") is None else text[:-1] + f", shipped to {g['name']}."
    labels = {j: data["toggles"][j][1] for j, _ in g["set"]}
    parts = [f"turn {'on' if on else 'off'} {labels[j].lower()}" for j, on in g["set"]]
    return (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]).capitalize() + \
        (" and save.", ", then save.", " and save the settings.")[phrasing % 3]


def draw_task_data(rng: random.Random) -> dict[str, Any]:
    """One candidate task's data (the caller checks its plan length)."""
    kind = rng.choices(("open", "cart", "buy", "settings"), weights=(1, 2, 4, 2))[0]
    n_items = rng.randint(6, 10)
    kinds = rng.sample(KINDS, rng.randint(2, 4))
    pairs = rng.sample([(c, k) for c in COLORS for k in kinds], n_items)
    items = [[f"{c.capitalize()} {k}", rng.randint(3, 60)] for c, k in pairs]
    toggles = [[k, lab, rng.random() < 0.5] for k, lab in rng.sample(TOGGLES, rng.randint(3, 5))]
    data: dict[str, Any] = {
        "items": items, "toggles": toggles,
        "profile": [rng.choice(PEOPLE), rng.choice(STREETS)],
        "layout_seed": rng.randrange(2**31), "phrasing": rng.randrange(3),
    }
    if kind == "open":
        data["goal"] = {"kind": "open", "item": rng.randrange(n_items)}
    elif kind in ("cart", "buy"):
        n = rng.choices((1, 2), weights=(3, 1))[0]
        lines = sorted([i, rng.choices((1, 2, 3, 4), weights=(3, 3, 2, 1))[0]] for i in rng.sample(range(n_items), n))
        data["goal"] = {"kind": kind, "items": lines}
        if kind == "buy":
            name = rng.choice(PEOPLE) if rng.random() < 0.3 else None
            data["goal"]["name"] = None if name == data["profile"][0] else name
    else:
        js = rng.sample(range(len(toggles)), rng.randint(1, 3))
        data["goal"] = {"kind": "settings", "set": [[j, not toggles[j][2]] for j in sorted(js)]}
    return data


def validate_data(d: Any, where: str) -> dict[str, Any]:
    """``d`` as gui task data, or a DataError naming what is wrong."""
    try:
        items, toggles, goal = d["items"], d["toggles"], d["goal"]
        ok = (isinstance(items, list) and items and all(isinstance(n, str) and isinstance(p, int) for n, p in items)
              and all(isinstance(k, str) and isinstance(lab, str) and isinstance(v, bool) for k, lab, v in toggles)
              and isinstance(d["layout_seed"], int) and len(d["profile"]) == 2 and isinstance(goal, dict))
        n = len(items)
        if ok and goal["kind"] == "open":
            ok = 0 <= goal["item"] < n
        elif ok and goal["kind"] in ("cart", "buy"):
            ok = all(0 <= i < n and 1 <= q <= 9 for i, q in goal["items"])
        elif ok and goal["kind"] == "settings":
            ok = all(0 <= j < len(toggles) and isinstance(on, bool) for j, on in goal["set"])
        elif ok:
            ok = False
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise DataError(f"{where} is not gui task data (items, toggles, profile, layout_seed and a goal)")
    return d
