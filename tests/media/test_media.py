"""Step images: stored content-addressed beside the output, checked when read, carried by
every verb that writes canonical records, never inlined."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest
from _cli import run_cli as run

from stepsieve import DataError
from stepsieve.formats import convert, get_format, read_trajectories
from stepsieve.media import MediaResolver, MediaStore, inline_ref
from stepsieve.trajectory import Action, MediaRef, Step, Trajectory


def png(colour: str = "red", size: tuple[int, int] = (8, 6)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def computer_run(n: int = 2) -> list[dict]:
    """An OpenAI computer-use item list whose screenshots are inline data URLs."""
    items: list[dict] = [{"role": "user", "content": "open the settings"}]
    for i in range(n):
        items.append(
            {"type": "computer_call", "call_id": f"c{i}", "action": {"type": "click", "x": 10 * i, "y": 5}}
        )
        shot = "data:image/png;base64," + base64.b64encode(png(["red", "blue", "green"][i % 3])).decode()
        items.append(
            {
                "type": "computer_call_output",
                "call_id": f"c{i}",
                "output": {"type": "computer_screenshot", "image_url": shot},
            }
        )
    return items


def write_run(path: Path, runs: list[list[dict]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    return path


def test_store_is_content_addressed_and_refuses_non_images(tmp_path: Path) -> None:
    store = MediaStore(tmp_path / "out.jsonl")
    a = store.put(png("red"), role="before")
    again = store.put(png("red"))
    assert a.path == again.path == f"out.jsonl.media/{a.sha256[:2]}/{a.sha256}.png"
    assert (tmp_path / a.path).read_bytes() == png("red")
    assert a.sha256 == hashlib.sha256(png("red")).hexdigest() and a.role == "before"
    assert len(list((tmp_path / "out.jsonl.media").rglob("*.png"))) == 1
    with pytest.raises(DataError, match="not an image"):
        store.put(b"%PDF-1.7 not a screenshot")
    with pytest.raises(DataError, match="declared image/jpeg, but the bytes are image/png"):
        store.put(png(), mime="image/jpeg")


def test_import_moves_inline_screenshots_into_the_media_folder(tmp_path: Path, capsys) -> None:
    src = write_run(tmp_path / "run.jsonl", [computer_run(2), computer_run(3)])
    code, out, _ = run(["convert", src, tmp_path / "o.jsonl", "--from", "openai-agents"], capsys)
    assert code == 0 and "2 read, 2 written, 0 rejected, 3 images carried" in out
    text = (tmp_path / "o.jsonl").read_text()
    assert "base64" not in text and "data:" not in text  # never inlined
    resolver = MediaResolver(tmp_path / "o.jsonl")
    ts = list(read_trajectories(tmp_path / "o.jsonl"))
    shots = [img for t in ts for s in t.steps for img in s.images]
    assert len(shots) == 5 and all(i.role == "after" for i in shots)
    assert resolver.read(ts[1].steps[2].images[0]) == png("green")
    code, out, _ = run(["inspect", tmp_path / "o.jsonl"], capsys)
    assert code == 0 and "/ 5" in out  # observations / images


def test_outputs_are_self_contained_across_folders_and_containers(tmp_path: Path) -> None:
    src = write_run(tmp_path / "run.jsonl", [computer_run(2)])
    convert(src, tmp_path / "a.jsonl", src_format="openai-agents")
    stats = convert(tmp_path / "a.jsonl", tmp_path / "far" / "b.parquet")
    assert stats.images == 2
    (t,) = read_trajectories(tmp_path / "far" / "b.parquet")
    ref = t.steps[1].images[0]
    assert ref.path.startswith("b.parquet.media/")
    import shutil

    shutil.rmtree(tmp_path / "a.jsonl.media")  # the new output does not lean on the old one
    assert MediaResolver(tmp_path / "far" / "b.parquet").read(ref) == png("blue")


def _record_with(ref: MediaRef) -> Trajectory:
    return Trajectory("t1", "task", [Step(0, "click(1, 2)", "action", images=[ref])])


def test_missing_altered_and_escaping_images_are_named(tmp_path: Path, capsys) -> None:
    store = MediaStore(tmp_path / "a.jsonl")
    good = store.put(png("red"))
    rows = [
        _record_with(good),
        Trajectory("t2", "task", [Step(0, "x", "action"), Step(1, "y", "action", images=[good])]),
    ]
    get_format("stepsieve").write(rows, tmp_path / "a.jsonl")
    (tmp_path / good.path).write_bytes(png("blue"))  # altered after writing
    with pytest.raises(DataError) as e:
        convert(tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert "a.jsonl:1" in str(e.value) and "was altered" in str(e.value) and good.sha256[:12] in str(e.value)
    # --on-error skip quarantines the records whose images are bad, and counts them
    code, out, _ = run(["convert", tmp_path / "a.jsonl", tmp_path / "c.jsonl", "--on-error", "skip"], capsys)
    assert code == 0 and "2 read, 0 written, 2 rejected" in out
    rejected = (tmp_path / "c.jsonl.rejected.jsonl").read_text().splitlines()
    assert [json.loads(r)["line"] for r in rejected] == [1, 2] and "step 1 image 0" in rejected[1]

    (tmp_path / good.path).unlink()
    with pytest.raises(DataError, match="is missing"):
        MediaResolver(tmp_path / "a.jsonl").read(good)
    escaping = MediaRef(path="../secret.png", sha256=good.sha256, size=good.size)
    with pytest.raises(DataError, match="must be relative to the record file's folder"):
        MediaResolver(tmp_path / "a.jsonl").read(escaping)
    absolute = MediaRef(path=str(tmp_path / good.path), sha256=good.sha256, size=good.size)
    with pytest.raises(DataError, match="must be relative"):
        MediaResolver(tmp_path / "a.jsonl").read(absolute)


def test_a_bad_inline_image_is_an_error_naming_the_item(tmp_path: Path) -> None:
    items = computer_run(1)
    items[2]["output"]["image_url"] = "data:image/png;base64," + base64.b64encode(b"not a png").decode()
    with pytest.raises(DataError, match=r"item 2: image: not an image"):
        get_format("openai-agents").decode(items)
    with pytest.raises(DataError, match="not valid base64"):
        inline_ref("@@@")


def test_grade_and_curate_outputs_carry_their_images(tmp_path: Path, capsys) -> None:
    src = write_run(tmp_path / "run.jsonl", [computer_run(2)])
    convert(src, tmp_path / "in" / "a.jsonl", src_format="openai-agents")
    code, _, err = run(
        ["grade", tmp_path / "in" / "a.jsonl", tmp_path / "g" / "graded.jsonl", "--grader", "agent-rules"],
        capsys,
    )
    assert code == 0, err
    (t,) = read_trajectories(tmp_path / "g" / "graded.jsonl")
    assert all(img.path.startswith("graded.jsonl.media/") for s in t.steps for img in s.images)
    resolver = MediaResolver(tmp_path / "g" / "graded.jsonl")
    assert resolver.read(t.steps[0].images[0]) == png("red")

    # curate (a kept, labelled step keeps its screenshot in the curated output's own folder)
    from stepsieve.trajectory import Label

    store = MediaStore(tmp_path / "in" / "labelled.jsonl")
    ok = Label(score=1.0, verdict="correct")
    rec = Trajectory(
        "t",
        "task",
        [
            Step(
                0,
                "click(1, 2)",
                "action",
                labels={"truth": ok},
                images=[store.put(png("blue"))],
                actions=[Action("click", x=1, y=2)],
            ),
            Step(
                1,
                "click(5, 6)",
                "action",
                labels={"truth": ok},
                images=[store.put(png("red"))],
                actions=[Action("click", x=5, y=6)],
            ),
        ],
    )
    get_format("stepsieve").write([rec], tmp_path / "in" / "labelled.jsonl")
    code, _, err = run(
        [
            "curate",
            tmp_path / "in" / "labelled.jsonl",
            "-o",
            tmp_path / "c" / "kept.jsonl",
            "--label",
            "truth",
        ],
        capsys,
    )
    assert code == 0, err
    (t,) = read_trajectories(tmp_path / "c" / "kept.jsonl")
    assert MediaResolver(tmp_path / "c" / "kept.jsonl").read(t.steps[0].images[0]) == png("blue")
    assert [a.x for s in t.steps for a in s.actions] == [1, 5]  # curation keeps the machine actions
    # one example per good step (the WebSTAR filter) keeps them too
    code, _, err = run(
        [
            "curate",
            tmp_path / "in" / "labelled.jsonl",
            "-o",
            tmp_path / "c" / "steps.jsonl",
            "--label",
            "truth",
            "--mode",
            "steps",
        ],
        capsys,
    )
    assert code == 0, err
    per_step = list(read_trajectories(tmp_path / "c" / "steps.jsonl"))
    assert [len(x.steps) for x in per_step] == [1, 2]
    assert per_step[1].steps[1].actions[0].x == 5 and per_step[1].steps[1].images


def test_a_format_without_images_says_how_many_it_left_out(tmp_path: Path) -> None:
    src = write_run(tmp_path / "run.jsonl", [computer_run(2)])
    stats = convert(src, tmp_path / "chat.jsonl", src_format="openai-agents", dst_format="openai-chat")
    assert stats.images_left_out == 2 and "2 step images not written" in str(stats)
