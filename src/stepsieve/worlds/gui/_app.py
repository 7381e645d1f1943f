"""The miniature shop application: its state, the widgets of each screen, and what an action does.

Everything is a pure function of ``(Spec, State, Action)``: the same task and action prefix
always give the same screens, so any prefix can be replayed exactly. Screens: ``shop`` (search
box, a scrollable product list), ``product`` (quantity field, Add to cart), ``cart`` (Remove,
Checkout), ``checkout`` (name, address, a newsletter checkbox, Place order), ``thanks``,
``settings`` (switches, Save), and modal dialogs (confirm order, help, sign in) that hide the
rest of the screen while open.

Text fields: a click focuses the field and selects its text (so typing replaces it); later
typing appends; Backspace deletes the selection or the last character. The search filters
live. A scroll moves the list by ``scroll_y`` pixels rounded to whole rows (at least one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from stepsieve.trajectory import Action

__all__ = ["HEIGHT", "WIDTH", "Layout", "Spec", "State", "Widget", "apply", "initial_state", "widgets"]

WIDTH, HEIGHT = 640, 480
CLICKABLE = frozenset({"link", "button", "textbox", "switch", "checkbox"})
DISTRACTORS = ("help", "signin", "promo")
_DIALOGS = {
    "help": ("Need help? Use the search box to find products.", [("dlg_close", "Close")]),
    "signin": ("Sign in is not available in this demo.", [("dlg_ok", "OK")]),
}


@dataclass(frozen=True, slots=True)
class Widget:
    """One element on screen, as the accessibility tree names it; ``box`` is (x1, y1, x2, y2),
    the right and bottom edges exclusive."""

    id: str
    role: str
    name: str
    box: tuple[int, int, int, int]
    value: str | None = None
    focused: bool = False

    @property
    def center(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.box
        return (x1 + x2) // 2, (y1 + y2) // 2

    def contains(self, x: int, y: int) -> bool:
        x1, y1, x2, y2 = self.box
        return x1 <= x < x2 and y1 <= y < y2


@dataclass(frozen=True, slots=True)
class Spec:
    """The parts of a task the application needs: catalog, settings, profile, layout seed."""

    items: tuple[tuple[str, int], ...]  # (name, price) in list order
    toggles: tuple[tuple[str, str], ...]  # (key, label)
    initial: tuple[bool, ...]  # saved switch values at the start
    profile: tuple[str, str]  # (name, address) prefilled at checkout
    layout_seed: int

    @staticmethod
    def of(data: dict[str, Any]) -> Spec:
        return Spec(
            tuple((str(n), int(p)) for n, p in data["items"]),
            tuple((str(k), str(lab)) for k, lab, _ in data["toggles"]),
            tuple(bool(v) for _, _, v in data["toggles"]),
            (str(data["profile"][0]), str(data["profile"][1])),
            int(data["layout_seed"]),
        )


@dataclass(frozen=True, slots=True)
class Layout:
    """Pixel geometry and theme drawn from the layout seed (jitter, distractor widgets)."""

    bar_h: int
    margin: int
    row_h: int
    rows: int
    gap: int
    nav_order: tuple[str, ...]
    distractors: tuple[str, ...]
    accent: int
    button_pad: int
    field_w: int

    @staticmethod
    def of(seed: int) -> Layout:
        rng = random.Random(f"gui-layout:{seed}")
        nav = ["nav_shop", "nav_cart", "nav_settings"]
        rng.shuffle(nav)
        k = rng.randint(1, 3)
        return Layout(
            bar_h=rng.randint(36, 52), margin=rng.randint(14, 56), row_h=rng.randint(34, 48),
            rows=rng.randint(4, 5), gap=rng.randint(8, 22), nav_order=tuple(nav),
            distractors=tuple(rng.sample(DISTRACTORS, k)), accent=rng.randrange(6),
            button_pad=rng.randint(10, 24), field_w=rng.randint(120, 220),
        )


class State(NamedTuple):
    """Everything that can change. A hashable tuple, so the planner can search over it."""

    screen: str = "shop"
    product: int = -1
    query: str = ""
    scroll: int = 0
    qty: str = "1"
    focus: str = ""
    selected: bool = False
    cart: tuple[tuple[int, int], ...] = ()  # (item, quantity), sorted by item
    name: str = ""
    address: str = ""
    newsletter: bool = False
    pending: tuple[bool, ...] = ()
    saved: tuple[bool, ...] = ()
    dialog: str = ""
    orders: tuple[tuple[tuple[tuple[int, int], ...], str], ...] = ()  # (cart, name)
    ended: bool = False

    def cart_count(self, item: int) -> int:
        return dict(self.cart).get(item, 0)


def initial_state(spec: Spec) -> State:
    return State(name=spec.profile[0], address=spec.profile[1], pending=spec.initial, saved=spec.initial)


def text_w(text: str, size: int = 13) -> int:
    """Approximate pixel width of ``text`` (the renderer sizes boxes with the same rule)."""
    return int(len(text) * size * 0.55) + 2


def filtered(spec: Spec, query: str) -> list[int]:
    q = query.strip().lower()
    return [i for i, (n, _) in enumerate(spec.items) if q in n.lower()]


def _button(wid: str, role: str, name: str, x: int, y: int, lay: Layout, h: int = 28, **kw: Any) -> Widget:
    return Widget(wid, role, name, (x, y, x + text_w(name) + 2 * lay.button_pad, y + h), **kw)


def _bar(spec: Spec, lay: Layout, st: State) -> list[Widget]:
    names = {"nav_shop": "Shop", "nav_cart": f"Cart ({sum(q for _, q in st.cart)})", "nav_settings": "Settings"}
    out, x = [], lay.margin
    y = (lay.bar_h - 24) // 2
    for wid in lay.nav_order:
        w = Widget(wid, "link", names[wid], (x, y, x + text_w(names[wid]) + 12, y + 24))
        out.append(w)
        x = w.box[2] + lay.gap
    rx = WIDTH - lay.margin
    for d in lay.distractors:
        if d == "promo":
            label = "Free shipping over $50"
            out.append(Widget("promo", "text", label, (rx - text_w(label), y, rx, y + 24)))
            rx -= text_w(label) + lay.gap
        else:
            label = "Help" if d == "help" else "Sign in"
            w = _button(d, "button", label, 0, y, lay, h=24)
            w = replace(w, box=(rx - (w.box[2] - w.box[0]), y, rx, y + 24))
            out.append(w)
            rx = w.box[0] - lay.gap
    return out


def _field(st: State, wid: str, name: str, value: str, x: int, y: int, w: int) -> Widget:
    return Widget(wid, "textbox", name, (x, y, x + w, y + 28), value=value, focused=st.focus == wid)


def list_box(lay: Layout) -> tuple[int, int, int, int]:
    top = lay.bar_h + 60
    return (lay.margin, top, WIDTH - lay.margin, top + lay.rows * lay.row_h)


def _screen(spec: Spec, lay: Layout, st: State) -> list[Widget]:
    m, top = lay.margin, lay.bar_h + 16
    if st.screen == "shop":
        out = [_field(st, "search", "Search", st.query, m, top, lay.field_w + 60)]
        box = list_box(lay)
        out.append(Widget("list", "list", "Products", box))
        vis = filtered(spec, st.query)[st.scroll:st.scroll + lay.rows]
        for r, i in enumerate(vis):
            name, price = spec.items[i]
            y = box[1] + r * lay.row_h + 4
            out.append(Widget(f"item{i}", "link", f"{name} ${price}", (m + 8, y, box[2] - 8, y + lay.row_h - 8)))
        if not vis:
            out.append(Widget("noresults", "text", "No results", (m + 8, box[1] + 8, m + 120, box[1] + 32)))
        return out
    if st.screen == "product":
        name, price = spec.items[st.product]
        out = [Widget("title", "heading", name, (m, top, m + text_w(name, 18), top + 26)),
               Widget("price", "text", f"${price}", (m, top + 34, m + 60, top + 54))]
        y = top + 70 + lay.gap
        out.append(_field(st, "qty", "Quantity", st.qty, m + 90, y, 70 + lay.button_pad))
        out.append(_button("add", "button", "Add to cart", m, y + 44 + lay.gap, lay))
        out.append(Widget("back", "link", "Back to shop", (m, y + 90 + 2 * lay.gap, m + 110, y + 112 + 2 * lay.gap)))
        return out
    if st.screen == "cart":
        out, y = [], top
        for i, q in st.cart:
            name, price = spec.items[i]
            label = f"{name} x{q}  ${price * q}"
            out.append(Widget(f"line{i}", "text", label, (m, y + 4, m + text_w(label), y + 24)))
            rm = _button(f"remove{i}", "button", "Remove", 0, y, lay)
            out.append(replace(rm, box=(WIDTH - m - (rm.box[2] - rm.box[0]), y, WIDTH - m, y + 28)))
            y += lay.row_h
        if not st.cart:
            out.append(Widget("empty", "text", "Your cart is empty", (m, y + 4, m + 150, y + 24)))
            return out
        total = sum(spec.items[i][1] * q for i, q in st.cart)
        out.append(Widget("total", "text", f"Total ${total}", (m, y + 8, m + 100, y + 28)))
        out.append(_button("checkout", "button", "Checkout", m, y + 40 + lay.gap, lay))
        return out
    if st.screen == "checkout":
        y = top + 8
        out = [_field(st, "name", "Name", st.name, m + 80, y, lay.field_w + 40),
               _field(st, "address", "Address", st.address, m + 80, y + 40 + lay.gap, lay.field_w + 80)]
        y += 2 * (40 + lay.gap)
        out.append(Widget("newsletter", "checkbox", "Subscribe to newsletter", (m, y, m + 200, y + 24),
                          value="checked" if st.newsletter else "unchecked"))
        out.append(_button("place", "button", "Place order", m, y + 40 + lay.gap, lay))
        return out
    if st.screen == "thanks":
        return [Widget("thanks", "heading", f"Thank you! Order #{len(st.orders)} placed.", (m, top, m + 300, top + 26))]
    # settings
    out, y = [], top
    for j, (key, label) in enumerate(spec.toggles):
        on = "on" if st.pending[j] else "off"
        out.append(Widget(f"tg_{key}", "switch", label, (m, y, m + 220, y + 28), value=on))
        y += lay.row_h
    out.append(_button("save", "button", "Save", m, y + lay.gap, lay))
    status = "All changes saved" if st.pending == st.saved else "Unsaved changes"
    out.append(Widget("status", "text", status, (m + 120, y + lay.gap + 4, m + 120 + text_w(status), y + lay.gap + 24)))
    return out


def _dialog(spec: Spec, lay: Layout, st: State) -> list[Widget]:
    x1, y1 = (WIDTH - 340) // 2 + lay.gap - 15, (HEIGHT - 150) // 2 - lay.gap
    if st.dialog == "order":
        total = sum(spec.items[i][1] * q for i, q in st.cart)
        msg, buttons = f"Place order for ${total}?", [("cancel", "Cancel"), ("confirm", "Confirm")]
    else:
        msg, buttons = _DIALOGS[st.dialog]
    out = [Widget("dialog", "dialog", msg, (x1, y1, x1 + 340, y1 + 150))]
    bx = x1 + 340 - 16
    for wid, label in reversed(buttons):
        w = _button(wid, "button", label, 0, y1 + 100, lay)
        wd = w.box[2] - w.box[0]
        out.append(replace(w, box=(bx - wd, y1 + 100, bx, y1 + 128)))
        bx -= wd + 12
    return out


def widgets(spec: Spec, lay: Layout, st: State) -> list[Widget]:
    """What the screen shows, in reading order; a modal dialog hides everything behind it."""
    if st.dialog:
        return _dialog(spec, lay, st)
    return _bar(spec, lay, st) + _screen(spec, lay, st)


def hit(ws: list[Widget], x: int, y: int) -> Widget | None:
    """The clickable widget under (x, y), if any (the last drawn wins)."""
    for w in reversed(ws):
        if w.role in CLICKABLE and w.contains(x, y):
            return w
    return None


def _set_cart(cart: tuple[tuple[int, int], ...], item: int, q: int) -> tuple[tuple[int, int], ...]:
    d = dict(cart)
    if q <= 0:
        d.pop(item, None)
    else:
        d[item] = q
    return tuple(sorted(d.items()))


def _click(spec: Spec, lay: Layout, st: State, w: Widget) -> State:
    wid = w.id
    if st.dialog:
        if wid == "confirm":
            return st._replace(dialog="", orders=(*st.orders, (st.cart, st.name)), cart=(), screen="thanks")
        return st._replace(dialog="")
    st = st._replace(focus="", selected=False) if w.role != "textbox" else st
    if wid in ("nav_shop", "back"):
        return st._replace(screen="shop")
    if wid == "nav_cart":
        return st._replace(screen="cart")
    if wid == "nav_settings":
        return st._replace(screen="settings")
    if wid in ("help", "signin"):
        return st._replace(dialog=wid)
    if w.role == "textbox":
        return st._replace(focus=wid, selected=True)
    if wid.startswith("item"):
        return st._replace(screen="product", product=int(wid[4:]), qty="1")
    if wid == "add":
        q = int(st.qty) if st.qty.isdigit() else 0
        if not 1 <= q <= 9:
            return st  # the app refuses a quantity outside 1..9
        return st._replace(cart=_set_cart(st.cart, st.product, min(9, st.cart_count(st.product) + q)))
    if wid.startswith("remove"):
        return st._replace(cart=_set_cart(st.cart, int(wid[6:]), 0))
    if wid == "checkout":
        return st._replace(screen="checkout")
    if wid == "newsletter":
        return st._replace(newsletter=not st.newsletter)
    if wid == "place":
        return st._replace(dialog="order") if st.cart and st.name.strip() and st.address.strip() else st
    if wid.startswith("tg_"):
        j = [k for k, _ in spec.toggles].index(wid[3:])
        return st._replace(pending=tuple(v != (i == j) for i, v in enumerate(st.pending)))
    if wid == "save":
        return st._replace(saved=st.pending)
    return st


_FIELDS = {"search": "query", "qty": "qty", "name": "name", "address": "address"}


def _edit(st: State, text: str | None) -> State:
    """Type ``text`` into the focused field (None: Backspace)."""
    attr = _FIELDS.get(st.focus)
    if attr is None:
        return st
    cur: str = getattr(st, attr)
    if text is None:
        new = "" if st.selected else cur[:-1]
    else:
        new = (text if st.selected else cur + text)[:40]
    if attr == "query":  # a new query shows its results from the top
        return st._replace(selected=False, query=new, scroll=0 if new != cur else st.scroll)
    if attr == "qty":
        return st._replace(selected=False, qty=new)
    if attr == "name":
        return st._replace(selected=False, name=new)
    return st._replace(selected=False, address=new)


def apply(spec: Spec, lay: Layout, st: State, a: Action, ws: list[Widget] | None = None) -> tuple[State, str | None]:
    """The state after action ``a`` and, when the action is invalid, why (the state unchanged).
    ``ws``: the widgets of ``st`` when the caller has them already."""
    if st.ended:
        return st, "the episode has ended (done was called)"
    for px, py in _points(a):
        if not (0 <= px < WIDTH and 0 <= py < HEIGHT):
            return st, f"({px}, {py}) is off the {WIDTH}x{HEIGHT} screen"
    t = a.type
    if t == "done":
        return st._replace(ended=True), None
    if t in ("click", "double_click"):
        assert a.x is not None and a.y is not None
        w = hit(ws if ws is not None else widgets(spec, lay, st), a.x, a.y)
        if w is None or (a.button not in (None, "left") and t == "click"):
            return st, None
        return _click(spec, lay, st, w), None
    if t == "type":
        return _edit(st, a.text or ""), None
    if t == "keypress":
        keys = [k.upper() for k in a.keys or []]
        if keys in (["ESCAPE"], ["ESC"]) and st.dialog:
            return st._replace(dialog=""), None
        if keys == ["BACKSPACE"]:
            return _edit(st, None), None
        if keys in (["CTRL", "A"], ["CONTROL", "A"]) and st.focus:
            return st._replace(selected=True), None
        return st, None
    if t == "scroll":
        assert a.x is not None and a.y is not None
        box = list_box(lay)
        if st.screen != "shop" or st.dialog or not (box[0] <= a.x < box[2] and box[1] <= a.y < box[3]):
            return st, None
        dy = a.scroll_y or 0
        if dy == 0:
            return st, None
        rows = max(1, round(abs(dy) / lay.row_h)) * (1 if dy > 0 else -1)
        n = len(filtered(spec, st.query))
        return st._replace(scroll=max(0, min(max(0, n - lay.rows), st.scroll + rows))), None
    if t in ("move", "wait", "screenshot", "drag"):
        return st, None  # nothing on these screens reacts to hovering or dragging
    return st, f"action type {t!r} is not a computer-use action"


def _points(a: Action) -> list[tuple[int, int]]:
    pts = [(a.x, a.y)] if a.x is not None and a.y is not None else []
    return pts + [(p.x, p.y) for p in a.path or []]
