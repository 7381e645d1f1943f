"""The step viewer: one self-contained page (no script, no network) with each step's
screenshots, the action drawn on them, every label next to the truth and curation marks —
rendered in a real headless Chromium and checked by its pixels."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _cli import run_cli as run

from stepsieve.formats import get_format
from stepsieve.media import MediaStore
from stepsieve.report import write_viewer
from stepsieve.trajectory import Action, Label, Step, Trajectory

W, H = 640, 400
BLUE, GREEN = (0, 0, 255), (0, 200, 0)


def screen(colour: tuple[int, int, int]) -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (W, H), "white")
    ImageDraw.Draw(im).rectangle([40, 40, 600, 360], fill=colour)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def lab(verdict: str | None, score: float | None = None, why: str | None = None) -> Label:
    return Label(score, verdict, why)  # type: ignore[arg-type]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    out = tmp_path / "graded.jsonl"
    store = MediaStore(out)
    blue, green = store.put(screen(BLUE), role="after"), store.put(screen(GREEN), role="after")
    before_green = store.put(screen(BLUE), role="before")
    t1 = Trajectory(
        "gui-1",
        "buy two blue mugs",
        [
            Step(
                0,
                "click(320, 200)",
                "action",
                thought="Open the shop.",
                images=[blue],
                actions=[Action("click", x=320, y=200)],
                labels={"truth": lab("correct", 1.0), "mc": lab("correct", 0.9)},
            ),
            Step(
                1,
                'type("2")',
                "action",
                images=[before_green, green],
                actions=[Action("type", text="2")],
                labels={"truth": lab("incorrect", 0.0, "wrong target"), "mc": lab("correct", 0.6)},
            ),
        ],
    )
    t2 = Trajectory(
        "gui-2",
        "turn on dark mode",
        [Step(0, "done()", "action", actions=[Action("done")], labels={"truth": lab("correct", 1.0)})],
    )
    get_format("stepsieve").write([t1, t2], out)
    curated = Trajectory(
        "gui-1",
        "buy two blue mugs",
        [
            Step(0, "click(320, 200)", "action", labels={"curate": Label(1.0, "correct")}),
            Step(1, 'type("2")', "action", labels={"curate": Label(0.0, "incorrect")}),
        ],
    )
    get_format("stepsieve").write([curated], tmp_path / "curated.jsonl")
    return out


def test_page_is_self_contained_with_labels_marks_and_filters(records: Path, tmp_path: Path) -> None:
    stats = write_viewer(records, tmp_path / "v.html", curated=tmp_path / "curated.jsonl")
    page = (tmp_path / "v.html").read_text()
    assert (stats.trajectories, stats.steps, stats.images, stats.image_errors) == (2, 3, 2, [])
    assert "<script" not in page and not re.search(r"""(src|href)=["']https?:""", page)
    assert all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'<img[^>]* src="([^"]+)"', page)
    )
    assert "truth (truth)" in page and "wrong target" in page
    assert "kept (weight 1)" in page and "masked (weight 0)" in page
    assert "dropped by curation" in page  # gui-2 is not in the curated output
    assert "with a first error (1)" in page and "graders disagree (1)" in page
    assert '<circle cx="320" cy="200"' in page and "type: 2" in page


def test_a_missing_image_is_shown_on_its_step_and_counted(records: Path, tmp_path: Path, capsys) -> None:
    for f in (records.parent / "graded.jsonl.media").rglob("*.png"):
        f.unlink()
        break
    code, out, _ = run(["view", records, "-o", tmp_path / "v.html"], capsys)
    assert code == 0 and "1 images could not be shown" in out and "is missing" in out
    assert "is missing" in (tmp_path / "v.html").read_text()


def _browser() -> str:
    found = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if found is None:
        pytest.fail("no headless Chromium: `make test` installs it (scripts/setup_browser.sh)")
    return found


def test_real_browser_renders_the_screenshots_and_the_click(records: Path, tmp_path: Path) -> None:
    from PIL import Image

    write_viewer(records, tmp_path / "v.html", curated=tmp_path / "curated.jsonl")
    shot = tmp_path / "page.png"
    proc = subprocess.run(
        [
            _browser(),
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            "--window-size=1200,1400",
            (tmp_path / "v.html").as_uri(),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []  # no console error, no script error
    im = Image.open(shot).convert("RGB")
    px = im.load()
    blue = [(x, y) for x in range(0, im.width, 2) for y in range(0, im.height, 2) if px[x, y] == BLUE]
    # the masked step is drawn faded (opacity): its green is lighter, still green
    green = [
        (x, y)
        for x in range(0, im.width, 2)
        for y in range(0, im.height, 2)
        if px[x, y][1] > 150 and px[x, y][0] < 120 and px[x, y][2] < 120
    ]
    # both screenshots are painted (thumbnails of 260 px: each coloured block is thousands of pixels)
    assert len(blue) > 2000 and len(green) > 1000
    # the click is drawn in red in the middle of the first blue screenshot
    bx = sorted(x for x, _ in blue)
    by = sorted(y for _, y in blue)
    cx, cy = bx[len(bx) // 2], by[len(by) // 4]
    reds = [
        (x, y)
        for x in range(cx - 60, cx + 60)
        for y in range(cy - 60, cy + 60)
        if 0 <= x < im.width
        and 0 <= y < im.height
        and px[x, y][0] > 200
        and px[x, y][1] < 80
        and px[x, y][2] < 80
    ]
    assert reds, "the click mark is not drawn on the screenshot"
