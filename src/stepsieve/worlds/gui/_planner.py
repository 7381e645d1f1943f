"""The exact planner of the ``gui`` world and the per-action truth it gives.

``Game.distance(state)`` is the length of a shortest action sequence (``done`` included) that
reaches the goal from ``state``, by breadth-first search over the application's real
transitions. The search only tries actions that can lie on a shortest plan (clicks on the
widgets the goal involves, navigation, typing the strings the goal needs, scrolling, ``done``
when the goal holds): distractors, unrelated products and switches, overshooting a quantity
never shorten a plan, and a test checks the pruned distance against an unpruned search.

Truth of one action (``judge``): ``correct`` when it shortens the remaining plan, otherwise
``incorrect`` with a kind, checked in this order:

- ``invalid``: not an action of the vocabulary, coordinates off the screen, or after ``done``;
- ``premature_done``: ``done`` before the goal holds;
- ``no_op``: the application state did not change (a click on nothing, a hover, a wait);
- ``goal_unreachable``: the goal can no longer be reached (an order placed with the wrong
  items), whether this action caused it or it already was (``extra["already"]``);
- ``regress``: it undid progress (a cart line, a switch or the shipping name moved away from
  the goal);
- ``wrong_target``: it acted on something that is not on any shortest plan (another product,
  a distractor, the wrong switch, a wrong quantity, scrolling the wrong way).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from stepsieve.trajectory import Action
from stepsieve.worlds.gui._app import Layout, Spec, State, Widget, apply, filtered, initial_state, widgets

__all__ = ["ERROR_KINDS", "INF", "Game", "Verdict"]

INF = 10**6
ERROR_KINDS = ("invalid", "premature_done", "no_op", "goal_unreachable", "regress", "wrong_target")
SCROLL_PX = 200  # the planner's scroll step


@dataclass(frozen=True, slots=True)
class Verdict:
    correct: bool
    kind: str | None = None
    already: bool = False  # goal_unreachable: it was unreachable before this action


class Game:
    """One task's application, goal and planner (distances memoised per state)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.spec = Spec.of(data)
        self.layout = Layout.of(self.spec.layout_seed)
        self.goal: dict[str, Any] = data["goal"]
        self.kind = str(self.goal["kind"])
        self.target: dict[int, int] = {int(i): int(q) for i, q in self.goal.get("items", [])}
        self.ship_to = self.goal.get("name") or self.spec.profile[0]
        want = list(self.spec.initial)
        for j, on in self.goal.get("set", []):
            want[j] = bool(on)
        self.want = tuple(want)
        self._dist: dict[State, int] = {}
        self._ws: dict[State, list[Widget]] = {}

    def start(self) -> State:
        return initial_state(self.spec)

    def widgets(self, st: State) -> list[Widget]:
        ws = self._ws.get(st)
        if ws is None:
            if len(self._ws) > 50_000:
                self._ws.clear()
            ws = self._ws[st] = widgets(self.spec, self.layout, st)
        return ws

    def step(self, st: State, a: Action) -> tuple[State, str | None]:
        return apply(self.spec, self.layout, st, a, self.widgets(st) if a.type in ("click", "double_click") else None)

    # ---- goal ----------------------------------------------------------------------------

    def goal_met(self, st: State) -> bool:
        if self.kind == "buy":
            return st.orders == ((tuple(sorted(self.target.items())), self.ship_to),)
        if st.orders:
            return False
        if self.kind == "open":
            return st.screen == "product" and st.product == int(self.goal["item"]) and not st.dialog
        if self.kind == "cart":
            return dict(st.cart) == self.target
        return st.saved == self.want

    def dead(self, st: State) -> bool:
        """The goal can no longer be reached: the episode ended, or an order it forbids exists."""
        if st.ended:
            return True
        if self.kind != "buy":
            return bool(st.orders)
        return len(st.orders) > 1 or (len(st.orders) == 1 and not self.goal_met(st))

    def success(self, st: State) -> bool:
        """The episode ended with ``done`` while the goal held."""
        return st.ended and self._met_at_end(st)

    def _met_at_end(self, st: State) -> bool:
        return self.goal_met(st._replace(ended=False))

    # ---- planning ------------------------------------------------------------------------

    def _texts(self, st: State) -> list[str]:
        """Strings worth typing into the focused field."""
        if st.focus == "search":
            return sorted({self.spec.items[i][0].lower() for i in self._wanted_items(st)})
        if st.focus == "qty" and st.product in self.target:
            t, c = self.target[st.product], st.cart_count(st.product)
            return sorted({str(t - c), str(t)} - {"0"})
        if st.focus == "name":
            return [self.ship_to]
        return []

    def _wanted_items(self, st: State) -> list[int]:
        if self.kind == "open":
            return [int(self.goal["item"])]
        return [i for i, t in self.target.items() if st.cart_count(i) < t]

    def candidates(self, st: State) -> list[Action]:
        """Actions that can lie on a shortest plan from ``st`` (see the module docstring)."""
        if self.dead(st):
            return []
        if self.goal_met(st):
            return [Action("done")]  # done is always a shortest finish from here
        out: list[Action] = []
        ws = self.widgets(st)
        wanted = set(self._wanted_items(st))
        for w in ws:
            wid, ok = w.id, False
            if st.dialog:
                ok = w.role == "button"
            elif wid in ("nav_shop", "nav_cart", "nav_settings", "back"):
                ok = True
            elif wid.startswith("item"):
                ok = int(wid[4:]) in wanted
            elif wid == "search":
                ok = bool(wanted)
            elif wid == "qty":
                ok = st.product in self.target
            elif wid == "add":
                q = int(st.qty) if st.qty.isdigit() else 0
                ok = st.product in self.target and q >= 1 and st.cart_count(st.product) + q <= self.target[st.product]
            elif wid.startswith("remove"):
                i = int(wid[6:])
                ok = self.kind in ("cart", "buy") and st.cart_count(i) > self.target.get(i, 0)
            elif wid in ("checkout", "place"):
                ok = self.kind == "buy"
            elif wid == "name":
                ok = self.kind == "buy" and st.name != self.ship_to
            elif wid.startswith("tg_"):
                j = [k for k, _ in self.spec.toggles].index(wid[3:])
                ok = self.kind == "settings" and st.pending[j] != self.want[j]
            elif wid == "save":
                ok = self.kind == "settings" and st.pending != st.saved
            if ok:
                x, y = w.center
                out.append(Action("click", x=x, y=y, button="left"))
        out.extend(Action("type", text=t) for t in self._texts(st))
        if st.screen == "shop" and not st.dialog and wanted:
            lw = next(w for w in ws if w.id == "list")
            x, y = lw.center
            n = len(filtered(self.spec, st.query))
            if st.scroll + self.layout.rows < n:
                out.append(Action("scroll", x=x, y=y, scroll_x=0, scroll_y=SCROLL_PX))
            if st.scroll > 0:
                out.append(Action("scroll", x=x, y=y, scroll_x=0, scroll_y=-SCROLL_PX))
        return out

    def lower_bound(self, st: State) -> int:
        """An admissible estimate of ``distance`` (never more): the clicks the goal needs
        that no other click can stand in for, plus ``done``."""
        h = 1 + (1 if st.dialog and st.dialog != "order" else 0)
        if self.kind == "open":
            return h + int(not (st.screen == "product" and st.product == int(self.goal["item"])))
        if self.kind == "settings":
            toggles = sum(p != w for p, w in zip(st.pending, self.want))
            save = int(toggles > 0 or st.saved != self.want)
            return h + toggles + save + int(st.screen != "settings" and save > 0)
        lay = self.layout
        visible = set(filtered(self.spec, st.query)[st.scroll:st.scroll + lay.rows])
        away = 0
        for i, t in self.target.items():
            c = st.cart_count(i)
            here = st.screen == "product" and st.product == i
            if c < t:  # (reach the list, show the item,) open its page, (set the quantity,) add
                h += 1
                if not here:
                    h += 1 + int(i not in visible)
                    away = 1
                if (here and st.qty != str(t - c)) or (not here and t - c > 1):
                    h += 1  # a typed quantity or another add
            elif c > t:
                h += 2  # remove and add again
        h += away * int(st.screen != "shop")  # back to the list
        h += sum(1 for i, _ in st.cart if i not in self.target)  # remove
        if self.kind == "buy" and not st.orders:
            if st.dialog == "order":
                h += 1
            else:
                h += 2 + int(st.screen != "checkout") + int(st.screen not in ("cart", "checkout"))
            h += int(st.name != self.ship_to)
        return h

    def _search(self, st: State, prune: bool = True, limit: int = 32) -> tuple[int, list[Action]]:
        """A* search with ``lower_bound``: (distance, a shortest plan); (INF, []) when the goal
        cannot be reached within ``limit`` actions. ``prune=False`` tries every action."""
        if self.dead(st):
            return INF, []
        parent: dict[State, tuple[State, Action] | None] = {st: None}
        best = {st: 0}
        tick = 0
        heap = [(self.lower_bound(st), 0, tick, st)]
        while heap:
            _, d, _, s = heapq.heappop(heap)
            if d > best.get(s, INF) or d >= limit:
                continue
            for a in self.candidates(s) if prune else self._all_actions(s):
                if a.type == "done":
                    plan = [a]
                    while (p := parent[s]) is not None:
                        s, prev = p
                        plan.append(prev)
                    plan.reverse()
                    self._remember(st, plan)
                    return d + 1, plan
                nxt, err = self.step(s, a)
                if err is None and d + 1 < best.get(nxt, INF) and not self.dead(nxt):
                    f = d + 1 + self.lower_bound(nxt)
                    if f > limit:
                        continue
                    best[nxt], parent[nxt] = d + 1, (s, a)
                    tick += 1
                    heapq.heappush(heap, (f, d + 1, tick, nxt))
        return INF, []

    def _remember(self, st: State, plan: list[Action]) -> None:
        """Every state along a shortest plan is that much closer to the goal."""
        for k, a in enumerate(plan[:-1]):
            self._dist.setdefault(st, len(plan) - k)
            st = self.step(st, a)[0]
        self._dist.setdefault(st, 1)

    def _all_actions(self, st: State) -> list[Action]:
        """Every click on a widget, every useful string typed, scrolls and done (for checking
        the pruning in tests; slow)."""
        out = [Action("click", x=w.center[0], y=w.center[1], button="left")
               for w in widgets(self.spec, self.layout, st) if w.role != "text"]
        texts = {self.spec.items[i][0].lower() for i in range(len(self.spec.items))} | {self.ship_to}
        texts |= {str(q) for q in range(1, 5)}
        out += [Action("type", text=t) for t in sorted(texts)] if st.focus else []
        box = next((w for w in widgets(self.spec, self.layout, st) if w.id == "list"), None)
        if box is not None:
            x, y = box.center
            out += [Action("scroll", x=x, y=y, scroll_x=0, scroll_y=s) for s in (SCROLL_PX, -SCROLL_PX)]
        return out + ([Action("done")] if self.goal_met(st) else [])

    def distance(self, st: State) -> int:
        """Length of the shortest plan from ``st`` (``done`` included); INF when unreachable."""
        d = self._dist.get(st)
        if d is None:
            d = self._dist[st] = self._search(st)[0]
        return d

    def plan(self, st: State | None = None, limit: int = 32) -> list[Action]:
        """A shortest plan from ``st`` (default: the start); empty when none within ``limit``."""
        return self._search(self.start() if st is None else st, limit=limit)[1]

    # ---- truth ---------------------------------------------------------------------------

    def _regressed(self, before: State, after: State) -> bool:
        """Whether ``after`` undid progress ``before`` had: a cart line, a switch the task names
        (pending or saved) or the shipping name moved away from the goal."""
        if self.kind in ("cart", "buy"):
            cb, ca = dict(before.cart), dict(after.cart)
            for i in set(cb) | set(ca):
                t = self.target.get(i, 0)
                if abs(ca.get(i, 0) - t) > abs(cb.get(i, 0) - t):
                    return True
        if self.kind == "buy" and before.name == self.ship_to != after.name:
            return True
        if self.kind == "settings":  # a switch the task names (another one is a wrong target)
            named = [int(j) for j, _ in self.goal["set"]]
            for vb, va in ((before.pending, after.pending), (before.saved, after.saved)):
                if any(vb[j] == self.want[j] != va[j] for j in named):
                    return True
        return False

    def judge(self, before: State, a: Action | None, after: State, error: str | None) -> Verdict:
        """The truth of one action (``a`` None: the text was not an action)."""
        if a is None or error is not None:
            return Verdict(False, "invalid")
        if a.type == "done":
            return Verdict(True) if self.goal_met(before) else Verdict(False, "premature_done")
        d0, d1 = self.distance(before), self.distance(after)
        if d1 < d0:
            return Verdict(True)
        if after == before:
            return Verdict(False, "no_op")
        if d0 >= INF or d1 >= INF:
            return Verdict(False, "goal_unreachable", already=d0 >= INF)
        if self._regressed(before, after):
            return Verdict(False, "regress")
        return Verdict(False, "wrong_target")
