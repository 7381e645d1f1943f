"""The step viewer: one self-contained HTML page of trajectories, step by step.

Each step shows its screenshots (thumbnails; click one to enlarge, click again to close),
the action drawn on the screen it acted on (click point, drag path, scroll direction, typed
text), the thought, the action text and the observation, and every grader's label next to
the truth, with the curation mark (kept / masked / dropped) where the trajectory was
curated. Filters at the top show only trajectories with a first error, with graders that
disagree, or with steps curation left out.

No script and no network: images are embedded (downscaled) as data URLs, enlarging and
filtering are CSS (a checkbox per image, radio buttons for the filters), so the page opens
anywhere and can be mailed as one file. Images are read through ``stepsieve.media``, so a
missing or altered screenshot is shown as such on its step (and counted), never silently
left out.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepsieve._errors import DataError
from stepsieve.media import MediaResolver
from stepsieve.trajectory import Action, Label, MediaRef, Step, Trajectory

__all__ = ["ViewerStats", "render_viewer", "write_viewer"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;color:#222;line-height:1.35}
h1{font-size:1.4em}h2{font-size:1.1em;margin:0 0 .3em}
.filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd;z-index:5}
.filters label{margin-right:1.2em;cursor:pointer}.pick{display:none}
#show-all:checked~.filters [for=show-all],#show-err:checked~.filters [for=show-err],
#show-dis:checked~.filters [for=show-dis],#show-cut:checked~.filters [for=show-cut]{
font-weight:700;text-decoration:underline}
#show-err:checked~.trajs .traj:not(.err),#show-dis:checked~.trajs .traj:not(.dis),
#show-cut:checked~.trajs .traj:not(.cut){display:none}
.traj{border:1px solid #ccc;border-radius:6px;margin:1em 0;padding:.8em}
.task{white-space:pre-wrap;background:#f7f7f7;padding:.4em;max-height:8em;overflow:auto}
.step{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.8em;border-top:1px solid #eee;
padding:.6em 0}
.step.bad{background:#fff3f3}.step.masked{opacity:.75}.step.dropped{opacity:.45}
.shots{display:flex;gap:.5em;flex-wrap:wrap;align-items:flex-start}
.zoom{display:none}
.shot{position:relative;display:inline-block;width:260px;cursor:zoom-in;line-height:0}
.shot img{width:100%;height:auto;display:block;border:1px solid #999}
.shot svg{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
.shot .cap{position:absolute;left:0;bottom:-1.3em;font-size:.75em;line-height:1.2;color:#555}
.zoom:checked+.shot{position:fixed;z-index:10;left:50%;top:50%;transform:translate(-50%,-50%);
width:min(96vw,calc(90vh * var(--ar)));cursor:zoom-out;box-shadow:0 0 0 100vmax #000b}
pre{white-space:pre-wrap;margin:.2em 0;font-size:.85em;background:#fafafa;padding:.3em}
table{border-collapse:collapse;font-size:.85em;margin-top:.3em}td,th{border:1px solid #ddd;padding:.15em .45em}
.correct{color:#176b1c;font-weight:600}.incorrect{color:#b00020;font-weight:600}.none{color:#888}
.badge{display:inline-block;font-size:.75em;padding:0 .4em;border-radius:3px;background:#eee;margin-right:.3em}
.kept{background:#d9f2dc}.masked-b{background:#fff0c2}.dropped-b{background:#f6d5d5}
.missing{color:#b00020;font-size:.85em;border:1px dashed #b00020;padding:.4em;width:240px}
"""


@dataclass
class ViewerStats:
    """What the page shows: trajectories, steps, images embedded, images that could not be."""

    trajectories: int = 0
    steps: int = 0
    images: int = 0
    image_errors: list[str] = field(default_factory=list)


@dataclass
class _Ctx:
    resolver: MediaResolver
    max_side: int
    truth: str
    curated: dict[str, list[float | None]] | None
    stats: ViewerStats
    uid: int = 0
    cache: dict[str, tuple[str, int, int]] = field(default_factory=dict)


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


# ---- images ----------------------------------------------------------------------------------


def _embed(ref: MediaRef, ctx: _Ctx, where: str) -> tuple[str, int, int] | str:
    """(data URL, original width, original height) of an image, or the reason it cannot be
    shown. Downscaled to ``max_side`` (the overlay keeps the original pixel coordinates)."""
    if ref.sha256 in ctx.cache:
        return ctx.cache[ref.sha256]
    from PIL import Image

    try:
        raw = ctx.resolver.read(ref, where)
        im: Image.Image = Image.open(io.BytesIO(raw))
        im.load()
    except DataError as e:
        ctx.stats.image_errors.append(str(e))
        return e.reason
    except (OSError, ValueError) as e:  # bytes with an image's magic number that Pillow cannot decode
        ctx.stats.image_errors.append(f"{where}image {ref.path}: cannot be decoded ({e})")
        return f"{where}image {ref.path} cannot be decoded"
    w, h = im.size
    if max(w, h) > ctx.max_side:
        im = im.convert("RGB") if im.mode not in ("RGB", "RGBA", "L") else im
        im.thumbnail((ctx.max_side, ctx.max_side))
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    out = (f"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}", w, h)
    ctx.cache[ref.sha256] = out
    ctx.stats.images += 1
    return out


def _overlay(actions: list[Action], w: int, h: int) -> str:
    """SVG marks of the actions on a screen of w x h pixels."""
    r = max(6.0, max(w, h) / 60)
    sw = max(2.0, r / 3)
    parts = []
    for a in actions:
        if a.type in ("click", "double_click", "move") and a.x is not None and a.y is not None:
            fill = "none" if a.type == "move" else "#ff000040"
            parts.append(
                f'<circle cx="{a.x}" cy="{a.y}" r="{r:.0f}" fill="{fill}" stroke="#ff0000" stroke-width="{sw:.0f}"/>'
                f'<path d="M{a.x - 2 * r:.0f} {a.y}H{a.x + 2 * r:.0f}M{a.x} {a.y - 2 * r:.0f}V{a.y + 2 * r:.0f}" '
                f'stroke="#ff0000" stroke-width="{sw / 2:.0f}"/>'
            )
            if a.type == "double_click":
                parts.append(f'<circle cx="{a.x}" cy="{a.y}" r="{1.6 * r:.0f}" fill="none" stroke="#ff0000" '
                             f'stroke-width="{sw:.0f}"/>')
        elif a.type == "drag" and a.path:
            pts = " ".join(f"{p.x},{p.y}" for p in a.path)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="#ff0000" stroke-width="{sw:.0f}"/>')
            end = a.path[-1]
            parts.append(f'<circle cx="{end.x}" cy="{end.y}" r="{r:.0f}" fill="#ff000060"/>')
        elif a.type == "scroll":
            x = a.x if a.x is not None else w // 2
            y = a.y if a.y is not None else h // 2
            dx, dy = (a.scroll_x or 0), (a.scroll_y or 0)
            n = max(1.0, (dx * dx + dy * dy) ** 0.5)
            ex, ey = x + 4 * r * dx / n, y + 4 * r * dy / n
            parts.append(
                f'<line x1="{x}" y1="{y}" x2="{ex:.0f}" y2="{ey:.0f}" stroke="#ff0000" stroke-width="{sw:.0f}"/>'
                f'<circle cx="{ex:.0f}" cy="{ey:.0f}" r="{r / 2:.0f}" fill="#ff0000"/>'
            )
        elif a.type in ("type", "keypress"):
            text = a.text if a.type == "type" else "+".join(a.keys or [])
            fs = max(12.0, h / 30)
            parts.append(f'<rect x="0" y="0" width="{w}" height="{1.6 * fs:.0f}" fill="#000000a0"/>'
                         f'<text x="{fs / 2:.0f}" y="{1.15 * fs:.0f}" font-size="{fs:.0f}" fill="#ffff00" '
                         f'font-family="monospace">{_esc(a.type)}: {_esc(text)}</text>')
    if not parts:
        return ""
    return f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none">{"".join(parts)}</svg>'


def _shot(ref: MediaRef, caption: str, actions: list[Action], ctx: _Ctx, where: str) -> str:
    got = _embed(ref, ctx, where)
    if isinstance(got, str):
        return f'<div class="missing">{_esc(caption)}: {_esc(got)}</div>'
    url, w, h = got
    ctx.uid += 1
    zid = f"z{ctx.uid}"
    return (
        f'<input type="checkbox" class="zoom" id="{zid}"><label class="shot" for="{zid}" style="--ar:{w / h:.4f}">'
        f'<img alt="{_esc(caption)}" src="{url}" width="{w}" height="{h}">{_overlay(actions, w, h)}'
        f'<span class="cap">{_esc(caption)}</span></label>'
    )


def _screens(t: Trajectory, i: int, step: Step, ctx: _Ctx) -> str:
    """The screen the action acted on (with the action drawn) and the screen it produced."""
    before = [m for m in step.images if m.role == "before"]
    after = [m for m in step.images if m.role != "before"]
    if not before and i > 0:  # logs that keep only the screen after each action
        before = [m for m in t.steps[i - 1].images if m.role != "before"][-1:]
    where = f"trajectory {t.id!r} step {step.index}: "
    parts = [_shot(m, "before (action drawn)", step.actions, ctx, where) for m in before]
    caption = "after" if before or not step.actions else "after (action drawn: no screen before it)"
    parts += [_shot(m, caption, [] if before else step.actions, ctx, where) for m in after]
    return f'<div class="shots">{"".join(parts)}</div>' if parts else ""


# ---- labels ----------------------------------------------------------------------------------


def _verdict(lab: Label | None) -> str:
    if lab is None:
        return '<span class="none">–</span>'
    v = lab.verdict or "none"
    score = "" if lab.score is None else f" {lab.score:.2f}"
    title = f' title="{_esc(lab.rationale)}"' if lab.rationale else ""
    return f'<span class="{_esc(v)}"{title}>{_esc(lab.verdict or "abstains")}{score}</span>'


def _mark(weight: float | str | None) -> str:
    if weight == "dropped":
        return '<span class="badge dropped-b">dropped by curation</span>'
    if weight is None:
        return ""
    if isinstance(weight, float) and weight > 0:
        return f'<span class="badge kept">kept (weight {weight:g})</span>'
    return '<span class="badge masked-b">masked (weight 0)</span>'


def _labels(step: Step, names: list[str], truth: str) -> str:
    rows = "".join(
        f"<tr><th>{_esc(n)}{' (truth)' if n == truth else ''}</th><td>{_verdict(lab := step.labels.get(n))}</td>"
        f"<td>{_esc(_short(_why(lab)))}</td></tr>"
        for n in names
    )
    return f"<table>{rows}</table>" if rows else ""


def _why(lab: Label | None) -> str:
    """A label's reason: its rationale, else the error kind it carries (the gui world's truth)."""
    if lab is None:
        return ""
    if lab.rationale:
        return lab.rationale
    kind = (lab.extra or {}).get("kind")
    return str(kind) if isinstance(kind, str) and kind not in ("weight", "advantage") else ""


def _short(text: str, n: int = 160) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _weights(t: Trajectory, ctx: _Ctx) -> list[float | str | None]:
    """Per step: its curation weight, "dropped" (curated away), or None (not curated)."""
    own = [s.labels.get("curate") for s in t.steps]
    if any(lab is not None for lab in own):
        return [None if lab is None or lab.score is None else float(lab.score) for lab in own]
    if ctx.curated is None:
        return [None] * len(t.steps)
    got = ctx.curated.get(t.id)
    if got is None:
        return ["dropped"] * len(t.steps)
    return [got[i] if i < len(got) else "dropped" for i in range(len(t.steps))]


def _first_incorrect(t: Trajectory, name: str) -> int | None:
    """The first step this label calls incorrect (a grader that abstains elsewhere included)."""
    for i, s in enumerate(t.steps):
        lab = s.labels.get(name)
        if lab is not None and lab.verdict == "incorrect":
            return i
    return None


def _flags(t: Trajectory, names: list[str], weights: list[Any]) -> list[str]:
    flags = []
    if any(_first_incorrect(t, n) is not None for n in names):
        flags.append("err")
    for s in t.steps:
        verdicts = {lab.verdict for n in names if (lab := s.labels.get(n)) is not None and lab.verdict is not None}
        if len(verdicts) > 1:
            flags.append("dis")
            break
    if any(w in ("dropped", 0.0) for w in weights):
        flags.append("cut")
    return flags


def _trajectory(t: Trajectory, ctx: _Ctx) -> tuple[str, list[str]]:
    names = [n for n in t.label_names() if n != "curate"]
    names.sort(key=lambda n: (n != ctx.truth, n))
    weights = _weights(t, ctx)
    flags = _flags(t, names, weights)
    first = {n: _first_incorrect(t, n) for n in names}
    badges = "".join(
        f'<span class="badge">{_esc(n)}: first incorrect step {"–" if f is None else f}</span>'
        for n, f in first.items()
    )
    head = (
        f"<h2>{_esc(t.id)}</h2>"
        + badges
        + (f'<span class="badge">outcome: {_esc(t.outcome.correct)}</span>' if t.outcome.correct is not None else "")
        + f'<div class="task">{_esc(t.task if isinstance(t.task, str) else _task_text(t.task))}</div>'
    )
    steps = []
    for i, s in enumerate(t.steps):
        ctx.stats.steps += 1
        bad = any((lab := s.labels.get(n)) is not None and lab.verdict == "incorrect" for n in names)
        w = weights[i]
        cls = "step" + (" bad" if bad else "") + (" dropped" if w == "dropped" else " masked" if w == 0.0 else "")
        text = [f'<span class="badge">step {s.index} · {_esc(s.kind)}</span>{_mark(w)}']
        if s.thought:
            text.append(f"<div><b>thought</b><pre>{_esc(s.thought)}</pre></div>")
        text.append(f"<div><b>{'action' if s.kind == 'action' else 'text'}</b><pre>{_esc(s.text)}</pre></div>")
        if s.observation:
            obs = s.observation if len(s.observation) <= 4000 else s.observation[:4000] + "\n… (cut for the page)"
            text.append(f"<details><summary>observation</summary><pre>{_esc(obs)}</pre></details>")
        text.append(_labels(s, names, ctx.truth))
        steps.append(f'<div class="{cls}"><div>{"".join(text)}</div>{_screens(t, i, s, ctx)}</div>')
    return f'<section class="traj {" ".join(flags)}">{head}{"".join(steps)}</section>', flags


def _task_text(messages: list[Any]) -> str:
    out = []
    for m in messages:
        if isinstance(m, dict):
            out.append(f"{m.get('role', '?')}: {m.get('content', '')}")
    return "\n".join(out)


def render_viewer(
    trajectories: Iterable[Trajectory],
    *,
    record_file: str | Path | None,
    curated: Iterable[Trajectory] | None = None,
    truth: str = "truth",
    max_side: int = 800,
    limit: int | None = 100,
    title: str = "stepsieve: steps",
) -> tuple[str, ViewerStats]:
    """The viewer page of ``trajectories`` (images resolved against ``record_file``'s folder);
    ``curated``: the output of ``stepsieve curate`` on them, for kept/masked/dropped marks."""
    cur = None
    if curated is not None:
        cur = {c.id: [None if (lab := s.labels.get("curate")) is None else lab.score for s in c.steps] for c in curated}
    stats = ViewerStats()
    ctx = _Ctx(MediaResolver(record_file), max_side, truth, cur, stats)
    sections = []
    counts = {"err": 0, "dis": 0, "cut": 0}
    for t in trajectories:
        if limit is not None and stats.trajectories >= limit:
            break
        body, flags = _trajectory(t, ctx)
        sections.append(body)
        stats.trajectories += 1
        for f in flags:
            counts[f] += 1
    radios = "".join(
        f'<input type="radio" class="pick" name="show" id="show-{k}"{" checked" if k == "all" else ""}>'
        for k in ("all", "err", "dis", "cut")
    )
    labels = (
        f'<label for="show-all">all ({stats.trajectories})</label>'
        f'<label for="show-err">with a first error ({counts["err"]})</label>'
        f'<label for="show-dis">graders disagree ({counts["dis"]})</label>'
        f'<label for="show-cut">curation left steps out ({counts["cut"]})</label>'
    )
    notes = ""
    if stats.image_errors:
        notes = f'<p class="missing">{len(stats.image_errors)} image(s) could not be shown: see the marked steps.</p>'
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>{notes}{radios}"
        f'<div class="filters">{labels}</div><div class="trajs">{"".join(sections)}</div></body></html>'
    )
    return page, stats


def write_viewer(
    records: str | Path,
    out: str | Path,
    *,
    fmt: str = "stepsieve",
    curated: str | Path | None = None,
    truth: str = "truth",
    max_side: int = 800,
    limit: int | None = 100,
) -> ViewerStats:
    """Write the viewer page of the records in ``records`` to ``out`` (atomically)."""
    from stepsieve.formats import open_reader

    cur = list(open_reader(curated)) if curated is not None else None
    page, stats = render_viewer(
        open_reader(records, fmt),
        record_file=records,
        curated=cur,
        truth=truth,
        max_side=max_side,
        limit=limit,
        title=f"stepsieve: steps of {Path(records).name}",
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return stats
