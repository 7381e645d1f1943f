"""Screens of the ``gui`` world drawn with Pillow, and the accessibility-tree text of the same widgets.

Both views come from one list of widgets (``_app.widgets``), so what the tree names is exactly
what is drawn where. PNG bytes are a pure function of the state (fixed palette, Pillow's
bundled font, no timestamps in the file), so replays reproduce screenshots byte for byte.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from stepsieve.worlds.gui._app import HEIGHT, WIDTH, Layout, Spec, State, Widget, widgets

__all__ = ["a11y_tree", "render_png"]

_ACCENTS = ((37, 99, 235), (5, 150, 105), (220, 38, 38), (124, 58, 237), (234, 88, 12), (8, 145, 178))
_LIGHT = {"bg": (248, 248, 246), "bar": (230, 232, 236), "fg": (20, 20, 24), "field": (255, 255, 255),
          "line": (170, 170, 178), "row": (238, 240, 243)}
_DARK = {"bg": (28, 30, 34), "bar": (44, 47, 54), "fg": (232, 232, 236), "field": (52, 55, 62),
         "line": (96, 99, 108), "row": (38, 41, 47)}


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _dark(spec: Spec, st: State) -> bool:
    keys = [k for k, _ in spec.toggles]
    return "dark_mode" in keys and bool(st.saved[keys.index("dark_mode")])


def _draw_widget(d: ImageDraw.ImageDraw, w: Widget, pal: dict[str, tuple[int, int, int]],
                 accent: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = w.box
    f = _font(18 if w.role == "heading" else 13)
    cy = (y1 + y2) // 2
    if w.role == "button":
        d.rounded_rectangle((x1, y1, x2 - 1, y2 - 1), radius=5, fill=accent)
        d.text(((x1 + x2) // 2, cy), w.name, fill=(255, 255, 255), font=f, anchor="mm")
    elif w.role == "link":
        d.text((x1 + 6, cy), w.name, fill=accent, font=f, anchor="lm")
        d.line((x1 + 6, y2 - 3, min(x2 - 6, x1 + 6 + int(d.textlength(w.name, font=f))), y2 - 3), fill=accent)
    elif w.role == "textbox":
        d.text((x1 - 8, cy), w.name, fill=pal["fg"], font=f, anchor="rm")
        d.rectangle((x1, y1, x2 - 1, y2 - 1), fill=pal["field"], outline=accent if w.focused else pal["line"],
                    width=2 if w.focused else 1)
        d.text((x1 + 6, cy), w.value or "", fill=pal["fg"], font=f, anchor="lm")
        if w.focused:
            cx = x1 + 7 + int(d.textlength(w.value or "", font=f))
            d.line((cx, y1 + 6, cx, y2 - 7), fill=pal["fg"])
    elif w.role == "switch":
        on = w.value == "on"
        d.text((x1, cy), w.name, fill=pal["fg"], font=f, anchor="lm")
        d.rounded_rectangle((x2 - 44, y1 + 4, x2 - 4, y2 - 4), radius=10, fill=accent if on else pal["line"])
        kx = x2 - 16 if on else x2 - 32
        d.ellipse((kx - 8, cy - 8, kx + 8, cy + 8), fill=(255, 255, 255))
    elif w.role == "checkbox":
        d.rectangle((x1, cy - 8, x1 + 16, cy + 8), fill=pal["field"], outline=pal["line"])
        if w.value == "checked":
            d.line((x1 + 3, cy, x1 + 7, cy + 5, x1 + 13, cy - 5), fill=accent, width=2)
        d.text((x1 + 24, cy), w.name, fill=pal["fg"], font=f, anchor="lm")
    elif w.role == "list":
        d.rectangle((x1, y1, x2 - 1, y2 - 1), fill=pal["row"], outline=pal["line"])
    elif w.role == "dialog":
        d.rectangle((x1 + 4, y1 + 4, x2 + 3, y2 + 3), fill=(0, 0, 0))
        d.rectangle((x1, y1, x2 - 1, y2 - 1), fill=pal["field"], outline=pal["line"])
        d.text((x1 + 16, y1 + 36), w.name, fill=pal["fg"], font=f, anchor="lm")
    else:  # text, heading
        d.text((x1, cy), w.name, fill=pal["fg"], font=f, anchor="lm")


def render_png(spec: Spec, lay: Layout, st: State) -> bytes:
    """The screen as PNG bytes (deterministic)."""
    pal = _DARK if _dark(spec, st) else _LIGHT
    accent = _ACCENTS[lay.accent]
    img = Image.new("RGB", (WIDTH, HEIGHT), pal["bg"])
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, WIDTH, lay.bar_h), fill=pal["bar"])
    for w in widgets(spec, lay, st._replace(dialog="")):
        _draw_widget(d, w, pal, accent)
    if st.dialog:  # a modal dims the screen behind it
        img = Image.blend(img, Image.new("RGB", img.size, (0, 0, 0)), 0.45)
        d = ImageDraw.Draw(img)
        for w in widgets(spec, lay, st):
            _draw_widget(d, w, pal, accent)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _line(w: Widget) -> str:
    cx, cy = w.center
    x1, y1, x2, y2 = w.box
    s = f'[{w.id}] {w.role} "{w.name}" ({cx},{cy}) {x2 - x1}x{y2 - y1}'
    if w.value is not None:
        s += f' value="{w.value}"'
    return s + (" focused" if w.focused else "")


def a11y_tree(spec: Spec, lay: Layout, st: State) -> str:
    """The accessibility tree as text: the screen, then one widget a line,
    ``[id] role "name" (center x,y) WxH value="..." focused`` (center and size: the bounding box)."""
    screen = "dialog" if st.dialog else st.screen
    return f"Screen: {screen}\n" + "\n".join(_line(w) for w in widgets(spec, lay, st))
