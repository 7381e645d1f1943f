"""VLM exports of step-filtered GUI trajectories, each read by its real consumer: `datasets`
with its `Image` feature (pixels equal the screenshot), TRL's vision collator with a tiny
random Qwen2-VL and its processor (which tokens carry loss), OpenAI's documented vision
rules, and LLaMA-Factory's ShareGPT layout with its dataset_info.json entry."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from helpers_curate import traj
from PIL import Image, ImageDraw

from stepsieve._errors import DataError
from stepsieve.curate import (
    CurateOptions,
    ExportOptions,
    Grading,
    check_openai_chat_file,
    curate,
    export_file,
    openai_chat_problems,
)
from stepsieve.formats import open_writer
from stepsieve.media import MediaStore
from stepsieve.trajectory import Action, MediaRef, Step, Trajectory

TASK = [{"role": "system", "content": "You operate a shop app."}, {"role": "user", "content": "Buy a mug."}]


def _png(color: str, label: str) -> bytes:
    im = Image.new("RGB", (160, 120), color)
    ImageDraw.Draw(im).text((10, 10), label, fill="black")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


SCREENS = {k: _png(c, k) for k, c in (("home", "white"), ("item", "lightblue"), ("cart", "pink"),
                                      ("home2", "lightgreen"), ("end", "yellow"))}


def _gui_source(tmp_path: Path, text_too: bool = False) -> tuple[Path, list[str]]:
    """A 4-step GUI run whose step 2 is wrong: curate's mask mode keeps steps 0-1 (weight 1)
    and masks 2-3. Step 1 has a thought. Each step: screen before, screen after (the next
    step's before). ``text_too``: a text-only agent run follows (no screenshot). Returns the
    curated file and the screens in the order they are shown."""
    src = tmp_path / "src" / "gui.jsonl"
    src.parent.mkdir()
    store = MediaStore(src)
    order = ["home", "item", "cart", "home2", "end"]
    refs = {k: store.put(SCREENS[k]) for k in order}
    texts = ["click(40, 30)", "click(80, 90)", "click(10, 10)", "done()"]
    acts = [Action("click", x=40, y=30), Action("click", x=80, y=90), Action("click", x=10, y=10), Action("done")]
    t = traj("g", ["correct", "correct", "incorrect", None], task=TASK, texts=texts)
    steps = []
    for i, s in enumerate(t.steps):
        before = refs[order[i]]
        after = refs[order[i + 1]]
        steps.append(Step(i, s.text, "action", f"screen {order[i + 1]}", labels=s.labels,
                          thought="The mug is on the item page." if i == 1 else None, actions=[acts[i]],
                          images=[_role(before, "before"), _role(after, "after")]))
    (masked,) = curate([Trajectory("g", TASK, steps)], Grading("truth"), CurateOptions(mode="mask"))
    with open_writer(src) as w:
        w.write(masked)
        if text_too:
            w.write(Trajectory("x", "7+8?", [Step(0, "calculator 7 + 8", "action", "15"), Step(1, "answer 15")]))
    return src, order


def _role(ref, role):
    import msgspec

    return msgspec.structs.replace(ref, role=role)


def _load(path: Path, tmp_path: Path):
    import datasets

    return datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))


def _with_images(ds, folder: Path):
    """The documented recipe: paths are relative to the export's folder; cast to Image."""
    import datasets

    ds = ds.map(lambda r: {"images": [str(folder / p) for p in r["images"]]})
    return ds.cast_column("images", datasets.Sequence(datasets.Image()))


def _same_pixels(img, key: str) -> bool:
    want = np.asarray(Image.open(io.BytesIO(SCREENS[key])).convert("RGB"))
    return np.array_equal(np.asarray(img.convert("RGB")), want)


def test_trl_vision_rows_load_with_the_image_feature_and_are_self_contained(tmp_path):
    src, order = _gui_source(tmp_path)
    out = tmp_path / "vlm" / "sft.jsonl"
    counts = export_file(src, out, ExportOptions(format="trl-vision"))
    assert (counts["in"], counts["out"], counts["images"]) == (1, 1, 4)
    ds = _load(out, tmp_path)
    row = ds[0]
    assert all(p.startswith("sft.jsonl.media/") for p in row["images"])  # relative to the export's folder
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user", "assistant"]
    assistants = [m for m in row["messages"] if m["role"] == "assistant"]
    assert [m["weight"] for m in assistants] == [1, 1, 0, 0]
    # the thought goes before the action
    assert assistants[1]["content"] == [{"type": "text", "text": "The mug is on the item page.\nclick(80, 90)"}]
    n_parts = sum(p["type"] == "image" for m in row["messages"] for p in m["content"])
    assert n_parts == len(row["images"]) == 4  # the screen after the last action trains nothing: left out
    # the export folder alone is enough: remove the source, decode every picture
    for f in src.parent.rglob("*.png"):
        f.unlink()
    decoded = _with_images(ds, out.parent)[0]["images"]
    assert [_same_pixels(im, k) for im, k in zip(decoded, order)] == [True] * 4


def test_trl_collator_on_tiny_qwen2_vl_puts_loss_exactly_on_the_kept_turns(tmp_path):
    pytest.importorskip("trl")
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from stepsieve.backends._tiny_model import build_tiny_qwen2_vl, qwen2_vl_processor
    from stepsieve.curate import vlm_chat_template

    torch.set_num_threads(1)
    src, _ = _gui_source(tmp_path, text_too=True)
    out = tmp_path / "vlm" / "sft.jsonl"
    export_file(src, out, ExportOptions(format="trl-vision"))
    ds = _with_images(_load(out, tmp_path), out.parent)
    model_dir = build_tiny_qwen2_vl(tmp_path / "tiny", chat_template=vlm_chat_template())
    proc = qwen2_vl_processor(model_dir)
    tok = proc.tokenizer
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    trainer = SFTTrainer(
        model=model, train_dataset=ds, processing_class=proc,
        args=SFTConfig(output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2,
                       report_to=[], use_cpu=True, save_strategy="no", dataloader_num_workers=0,
                       assistant_only_loss=True, max_length=None),
    )
    assert isinstance(trainer.data_collator, DataCollatorForVisionLanguageModeling)
    assert ds[1]["images"] == []  # a text-only run in the same file, collated in the same batch
    batch = trainer.data_collator([dict(ds[0]), dict(ds[1])])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    text = tok.decode(ids)
    assert text.count("<|vision_start|>") == 4 and batch["image_grid_thw"].shape[0] == 4
    # one turn per action; the masked steps are context with their own <|im_end|>
    assert "<|im_start|>assistant\nclick(10, 10)<|im_end|>\n" in text
    assert tok.decode(ids[labels != -100]) == (
        "click(40, 30)<|im_end|>\nThe mug is on the item page.\nclick(80, 90)<|im_end|>\n"
    )
    assert not (labels[ids == proc.image_token_id] != -100).any()  # never an image token
    ids1, labels1 = batch["input_ids"][1], batch["labels"][1]
    assert tok.decode(ids1[labels1 != -100]) == "calculator 7 + 8<|im_end|>\nanswer 15<|im_end|>\n"
    assert "<|im_start|>user\n15<|im_end|>" in tok.decode(ids1)  # the tool result: context
    trainer.train()
    assert trainer.state.global_step == 1


def test_openai_vision_rows_meet_the_documented_rules_and_carry_the_pixels(tmp_path):
    src, order = _gui_source(tmp_path)
    out = tmp_path / "oa.jsonl"
    export_file(src, out, ExportOptions(format="openai-vision"))
    assert check_openai_chat_file(out) == []
    row = orjson.loads(out.read_bytes().splitlines()[0])
    urls = [p["image_url"]["url"] for m in row["messages"] if isinstance(m["content"], list)
            for p in m["content"] if p["type"] == "image_url"]
    raw = [base64.b64decode(u.split(",", 1)[1]) for u in urls]
    assert [_same_pixels(Image.open(io.BytesIO(r)), k) for r, k in zip(raw, order)] == [True] * 4
    assert [m["weight"] for m in row["messages"] if m["role"] == "assistant"] == [1, 1, 0, 0]
    # OpenAI's limit: older screenshots beyond max_images are left out and counted
    counts = export_file(src, tmp_path / "oa2.jsonl", ExportOptions(format="openai-vision", max_images=2))
    assert (counts["images"], counts["images_left_out"]) == (2, 2)
    assert check_openai_chat_file(tmp_path / "oa2.jsonl") == []


def test_openai_vision_rules_reject_what_the_docs_forbid():
    png = "data:image/png;base64," + base64.b64encode(SCREENS["home"]).decode()
    part = {"type": "image_url", "image_url": {"url": png}}
    ok = {"messages": [{"role": "user", "content": [{"type": "text", "text": "go"}, part]},
                       {"role": "assistant", "content": "click(1, 2)", "weight": 1}]}
    assert openai_chat_problems(ok) == []
    in_assistant = {"messages": [{"role": "user", "content": "go"},
                                 {"role": "assistant", "content": [part]}]}
    assert any("only in user messages" in p for p in openai_chat_problems(in_assistant))
    eleven = {"messages": [{"role": "user", "content": [part] * 11}, {"role": "assistant", "content": "x"}]}
    assert any("at most 10" in p for p in openai_chat_problems(eleven))
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    grey = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    lied = "data:image/jpeg;base64," + base64.b64encode(SCREENS["home"]).decode()
    for url, says in ((grey, "mode L"), (lied, "declared image/jpeg"), ("file:///etc/x.png", "http(s) URL"),
                      ("data:image/gif;base64,R0lGOD", "http(s) URL")):
        bad = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
                            {"role": "assistant", "content": "x"}]}
        assert any(says in p for p in openai_chat_problems(bad)), (says, openai_chat_problems(bad))


def _lf_info(out: Path) -> dict:
    return json.loads((out.parent / "dataset_info.json").read_text())[out.stem]


def test_llamafactory_vision_one_row_per_kept_turn_with_its_images(tmp_path):
    src, order = _gui_source(tmp_path)
    out = tmp_path / "lf" / "gui.jsonl"
    counts = export_file(src, out, ExportOptions(format="llamafactory-vision"))
    assert (counts["in"], counts["out"], counts["rows"]) == (1, 1, 2)  # 2 kept turns: 2 rows
    assert _lf_info(out) == {
        "file_name": "gui.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"},
    }
    ds = _load(out, tmp_path)
    rows = list(ds)
    for r in rows:  # LLaMA-Factory's rules: system first, then user/assistant alternating, assistant last
        roles = [m["role"] for m in r["messages"]]
        assert roles[0] == "system" and roles[1::2] == ["user"] * len(roles[1::2])
        assert roles[2::2] == ["assistant"] * len(roles[2::2]) and roles[-1] == "assistant"
        assert sum(m["content"].count("<image>") for m in r["messages"]) == len(r["images"])
    # with mask_history: true each row trains its last turn: exactly the kept steps
    assert [r["messages"][-1]["content"] for r in rows] == [
        "click(40, 30)", "The mug is on the item page.\nclick(80, 90)"]
    assert [len(r["images"]) for r in rows] == [1, 2]
    decoded = _with_images(ds, out.parent)[1]["images"]
    assert [_same_pixels(im, k) for im, k in zip(decoded, order)] == [True, True]
    # record rows (every turn trained) cannot hold a masked step: rejected, not mis-trained
    c2 = export_file(src, tmp_path / "lf" / "rec.jsonl", ExportOptions(format="llamafactory-vision", lf_rows="record"))
    assert (c2["out"], c2["rows"], c2["rejected_by_reason"]) == (0, 0, {"not_expressible": 1})
    assert set(json.loads((out.parent / "dataset_info.json").read_text())) == {"gui", "rec"}


def test_llamafactory_text_rows_from_math_and_agent_runs(tmp_path):
    (math,) = curate([traj("m", ["correct", "correct", "incorrect", None], task="2+3*4=?",
                           texts=["3*4=12", "2+12=14", "answer 15", "done"])],
                     Grading("truth"), CurateOptions(mode="mask"))
    agent = Trajectory("a", "7+8?", [Step(0, "calculator 7 + 8", "action", "15"), Step(1, "answer 15")])
    src = tmp_path / "in.jsonl"
    with open_writer(src) as w:
        w.write(math)
        w.write(agent)
    out = tmp_path / "lf" / "text.jsonl"
    counts = export_file(src, out, ExportOptions(format="llamafactory"))
    assert _lf_info(out)["columns"] == {"messages": "messages"}
    rows = list(_load(out, tmp_path))
    assert (counts["in"], counts["out"], counts["rows"]) == (2, 2, len(rows)) and len(rows) == 3
    # math: steps 0-1 merge into one kept turn; steps 2-3 (masked) have no row
    assert rows[0]["messages"] == [{"role": "user", "content": "2+3*4=?"},
                                   {"role": "assistant", "content": "3*4=12\n2+12=14"}]
    # agent: the tool result is the next user turn; each kept turn has its row
    assert [r["messages"][-1]["content"] for r in rows[1:]] == ["calculator 7 + 8", "answer 15"]
    assert rows[2]["messages"][2] == {"role": "user", "content": "15"}


def test_an_altered_screenshot_is_named_or_quarantined(tmp_path):
    src, _ = _gui_source(tmp_path)
    victim = next(src.parent.rglob("*.png"))
    victim.write_bytes(_png("black", "x"))
    with pytest.raises(DataError, match=r"trajectory 'g' step \d: image .* was altered"):
        export_file(src, tmp_path / "o.jsonl", ExportOptions(format="trl-vision"))
    counts = export_file(src, tmp_path / "o.jsonl", ExportOptions(format="trl-vision"), on_error="skip")
    assert (counts["out"], counts["rejected_by_reason"]) == (0, {"bad_image": 1})
    (rej,) = [orjson.loads(x) for x in (tmp_path / "o.jsonl.rejected.jsonl").read_bytes().splitlines()]
    assert "was altered" in rej["reason"] and orjson.loads(rej["raw"])["id"] == "g"


def test_gui_world_runs_sampled_curated_and_exported_by_the_cli(tmp_path, capsys):
    """Real `gui` world records (the shipped policy, screenshots in g.jsonl.media): sample ->
    curate (truth, mask) -> each VLM export; the trained turns are exactly the kept steps."""
    from stepsieve.curate._chat import step_weight
    from stepsieve.formats import read_trajectories
    from tests._cli import run_cli

    g, m = tmp_path / "g.jsonl", tmp_path / "m.jsonl"
    code, _, err = run_cli(["sample", "--world", "gui", "--n", "4", "--ops", "3-5", "--out", g, "--seed", "4"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["curate", g, "-o", m, "--label", "truth", "--mode", "mask"], capsys)
    assert code == 0, err
    recs = list(read_trajectories(m))
    kept = [[f"{s.thought}\n{s.text}" if s.thought else s.text for s in t.steps if step_weight(s, "curate")]
            for t in recs]
    assert any(0 < len(k) < len(t.steps) for k, t in zip(kept, recs))  # a run masked after its error
    outs = {}
    for fmt in ("trl-vision", "openai-vision", "llamafactory-vision"):
        outs[fmt] = tmp_path / fmt / "x.jsonl"
        code, _, err = run_cli(["export", m, "-o", outs[fmt], "--format", fmt], capsys)
        assert code == 0, err
    trl = [orjson.loads(x) for x in outs["trl-vision"].read_bytes().splitlines()]
    assert [[m["content"][0]["text"] for m in r["messages"] if m.get("weight") == 1] for r in trl] == kept
    for r, t in zip(trl, recs):  # every action answered by its screen; every image file in the export
        assert sum(p["type"] == "image" for m in r["messages"] for p in m["content"]) == len(r["images"])
        assert len(r["images"]) == len(t.steps)  # the first screen + one per action but the last
        assert all((outs["trl-vision"].parent / p).is_file() for p in r["images"])
    assert check_openai_chat_file(outs["openai-vision"]) == []
    lf = [orjson.loads(x) for x in outs["llamafactory-vision"].read_bytes().splitlines()]
    assert [r["messages"][-1]["content"] for r in lf] == [k for ks in kept for k in ks]


def test_vision_conversation_screens_observations_and_turns():
    from stepsieve.curate._vision import Shot, vision_messages

    store_refs = {k: MediaRef(path=f"x/{k}.png", sha256=k * 64, size=1) for k in ("a", "b")}
    a, b = _role(store_refs["a"], "before"), _role(store_refs["b"], "after")
    b_again = _role(store_refs["b"], "after")
    t = Trajectory("v", "task", [
        Step(0, "click(1, 1)", "action", "tree 1", images=[a, b]),
        Step(1, "click(2, 2)", "action", "tree 2", images=[_role(store_refs["b"], "before"), b_again]),  # a no-op
        Step(2, "think", "reasoning"),
        Step(3, "answer", "action", "text only"),
    ])
    msgs, trained = vision_messages(t)
    shape = [(m["role"], ["img" if isinstance(p, Shot) else p for p in m["parts"]]) for m in msgs]
    assert shape == [
        ("user", ["task", "img"]),  # the first screen joins the task
        ("assistant", ["click(1, 1)"]), ("user", ["img"]),  # its after screen; the text tree is not shown
        ("assistant", ["click(2, 2)"]), ("user", ["img"]),  # before == last shown: not repeated; a no-op answered
        ("assistant", ["think\nanswer"]),  # same weight, no observation between: one turn
    ]  # the trailing observation ("text only") trains nothing: left out
    assert trained == 2 + 1
    with_text, _ = vision_messages(t, obs_text=True)
    assert with_text[2]["parts"][1:] == ["tree 1"]
