"""The StepRM on a Hugging Face vision-language model (issue 14 item 4): a tiny randomly
initialised Qwen2-VL and its processor, built here (nothing downloaded), trained by
``stepsieve train-prm --base DIR`` on gui-world records with their screenshots, then loaded by
the ``prm`` grader. The label learnt is the world's exact ``truth`` (the flow is the one an
``mc`` label takes)."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import msgspec
import pytest
import torch
from PIL import Image

from stepsieve.backends._tiny_model import build_tiny_qwen2_vl
from stepsieve.backends._vl_processor import load_vl_processor
from stepsieve.formats import read_trajectories
from stepsieve.media import MediaResolver, MediaStore
from stepsieve.prm import StepRM, VLMStepRM, load_scorer, score_per_prefix
from stepsieve.prm._vlm import chat_messages
from stepsieve.trajectory import Step
from tests._cli import run_cli

torch.set_num_threads(1)


def _cli(argv: list) -> None:
    from stepsieve.cli import main

    old, sys.argv = sys.argv, ["stepsieve", *map(str, argv)]
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old
    assert code == 0, f"stepsieve {argv[0]} exited {code}"


@pytest.fixture(scope="module")
def gui_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 3-step gui tasks sampled hot by the embedded gui policy: a few wrong steps among
    right ones, the screenshots beside the file."""
    out = tmp_path_factory.mktemp("vlm_gui") / "gui.jsonl"
    _cli(["sample", "--world", "gui", "--n", "8", "--ops", "3", "--temperature", "2.5", "--seed", "1", "--out", out])
    return out


@pytest.fixture(scope="module")
def tiny_vl(gui_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2-VL, its BPE merges learnt on the records' text (short sequences on CPU)."""
    texts = [p["text"] for t in read_trajectories(gui_records) for m in chat_messages(t.task, t.steps)[0]
             for p in m["content"] if "text" in p]
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny_qwen2_vl"), texts=texts, vocab_size=1024,
                               hidden_size=32, layers=1, heads=2, max_pixels=28 * 28 * 4, init_std=0.2)


@pytest.fixture(scope="module")
def trained(gui_records: Path, tiny_vl: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vlm_prm") / "steprm"
    _cli(["train-prm", gui_records, "--base", tiny_vl, "--out", out, "--label", "truth", "--epochs", "6",
          "--batch-size", "2", "--lr", "1e-2", "--dev-fraction", "0", "--device", "cpu"])
    return out


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def test_the_tiny_model_loads_like_a_published_qwen2_vl(tiny_vl: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor, Qwen2VLForConditionalGeneration

    assert isinstance(AutoModelForImageTextToText.from_pretrained(str(tiny_vl)), Qwen2VLForConditionalGeneration)
    if importlib.util.find_spec("torchvision") is None:
        # transformers 5.24: Qwen2-VL's processor builds a torchvision-only video processor
        with pytest.raises(ImportError):
            AutoProcessor.from_pretrained(str(tiny_vl))
    proc = load_vl_processor(tiny_vl)
    assert type(proc).__name__ == "Qwen2VLProcessor"
    msgs = [{"role": "user", "content": [{"type": "text", "text": "open settings"}, {"type": "image"}]}]
    enc = proc(text=[proc.apply_chat_template(msgs, tokenize=False)], images=[Image.new("RGB", (640, 480))],
               return_tensors="pt")
    image_id = proc.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    # the processor's own expansion: one token per 2x2 merge of the image's patches
    assert int((enc["input_ids"] == image_id).sum()) == int(enc["image_grid_thw"].prod()) // 4 > 0


def test_train_prm_on_a_vlm_learns_and_the_prm_grader_scores_every_step(
    gui_records: Path, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = list(read_trajectories(gui_records))
    verdicts = [s.labels["truth"].verdict for t in records for s in t.steps]
    assert "incorrect" in verdicts and "correct" in verdicts
    assert all(s.images for t in records for s in t.steps)
    conf = json.loads((trained / "stepsieve_vlm_prm.json").read_text())
    assert conf["separator"] == "<|im_end|>" and conf["label"] == "truth"
    tr = conf["training"]
    assert tr["examples"] == len(records) and tr["labelled_steps"] == len(verdicts)
    curve = [y for _, y in tr["loss_curve"]]
    assert len(curve) == 24 and sum(curve[-4:]) / 4 < 0.8 * curve[0]
    # safetensors only, the VLM's own layout, the base's processor files beside it
    assert not list(trained.glob("*.bin")) and (trained / "model.safetensors").is_file()
    assert (trained / "prm_head.safetensors").is_file() and (trained / "preprocessor_config.json").is_file()

    out = tmp_path / "graded.jsonl"
    code, _, err = run_cli(["grade", gui_records, out, "--grader", "prm", "--model", trained, "-q"], capsys)
    assert code == 0, err
    graded = list(read_trajectories(out))
    assert [t.id for t in graded] == [t.id for t in records]
    scores = [s.labels["prm"].score for t in graded for s in t.steps]
    assert len(scores) == len(verdicts) and all(0.0 < p < 1.0 for p in scores)
    assert all(s.labels["prm"].verdict in ("correct", "incorrect") for t in graded for s in t.steps)
    assert load_scorer(trained, device="cpu").kind == "vlm-steprm"


def test_screens_reach_the_head_and_one_pass_equals_one_pass_per_prefix(gui_records: Path, trained: Path) -> None:
    model = StepRM.load(trained, device="cpu")
    assert isinstance(model, VLMStepRM)
    model.media = MediaResolver(gui_records)
    records = list(read_trajectories(gui_records))[:3]
    t = records[0]
    r = model.render(t.task, t.steps)
    # the first screen, then each step's result screen (the next step's "before" one: shown once),
    # each expanded into its image tokens; the heads at the <|im_end|> closing each observation turn
    assert all([i.role for i in s.images] == ["before", "after"] for s in t.steps)
    assert [i.sha256 for i in r.images] == [t.steps[0].images[0].sha256, *(s.images[1].sha256 for s in t.steps)]
    assert all(r.input_ids[p] == model.separator_id for p in r.step_positions)
    with torch.no_grad():
        full = [torch.sigmoid(x).tolist() for x in model.step_logits(model.render_many(
            [(x.task, x.steps) for x in records]))]
        per_prefix = score_per_prefix(model, records)
        # a short two-step run of the same screens, then its last result screen made black: the
        # head's input at that step moves, at the first step it does not
        shots = [i for s in t.steps for i in s.images]
        short = [Step(0, "click(54, 24)", "action", images=shots[:2]), Step(1, "click(129, 124)", "action",
                                                                            images=shots[2:4])]
        black = MediaStore(gui_records).put(_png(Image.new("RGB", (640, 480))), role="after")
        dark = [short[0], msgspec.structs.replace(short[1], images=[short[1].images[0], black])]
        before, after = (model.step_features([model.render("Open the cart.", steps)])[0] for steps in (short, dark))
    for a, b in zip(full, per_prefix):
        assert a == pytest.approx(b, abs=1e-5)
    # (a random 1-layer model's peaked attention gives the 2 image tokens little weight: the move
    # is small, ~7e-5 here, but far above the unchanged step's float noise)
    assert float((before[0] - after[0]).abs().max()) < 1e-6
    assert float((before[1] - after[1]).abs().max()) > 1e-5


def test_a_vlm_steprm_refuses_what_it_cannot_honour(tiny_vl: Path, gui_records: Path) -> None:
    from stepsieve._errors import ConfigError
    from stepsieve.prm import VLMStepRMConfig, train_prm

    with pytest.raises(ConfigError, match="linear head"):
        VLMStepRM.from_base(tiny_vl, VLMStepRMConfig(head="logprobs"))
    with pytest.raises(ConfigError, match="chat template"):
        VLMStepRM.from_base(tiny_vl, VLMStepRMConfig(template="Problem: {task}\n"))
    # a separator that does not close the chat's turns is refused before any training
    with pytest.raises(ConfigError, match="does not end each turn"):
        train_prm(read_trajectories(gui_records), base=tiny_vl, out=gui_records.parent / "never", label="truth",
                  separator="\n", device="cpu", media=MediaResolver(gui_records))
