"""The vision StepRM: the shipped model scores gui records through ``grade --grader prm``, the
screen matters to it, training makes its loss fall, a missing screenshot is a clear error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from stepsieve.formats import read_trajectories, write_trajectories
from stepsieve.media import MediaResolver, MediaStore
from stepsieve.prm import load_scorer
from stepsieve.prm.vision import (
    VISION_CONFIG_NAME,
    ImageCache,
    VisionScorer,
    VisionStepRM,
    VisionStepRMConfig,
    VisionTrainOptions,
    prepare,
    step_targets_from_mc,
    train_vision_steps,
    trajectory_inputs,
)
from stepsieve.trajectory import Label, Trajectory
from tests._cli import run_cli

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "stepsieve" / "embedded" / "gui_steprm"
TINY = {"screen": (32, 24), "band": (64, 16), "buckets": 64, "text_dim": 8, "channels": 4, "hidden": 16}


@pytest.fixture(scope="module")
def gui_records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four rollouts of the embedded gui policy, with screenshots beside them."""
    d = tmp_path_factory.mktemp("gui")
    out = d / "gui.jsonl"
    from stepsieve.backends.gui_policy import GuiPolicyBackend
    from stepsieve.sampling import sample
    from stepsieve.worlds.gui import GuiWorld

    ts = list(sample(GuiWorld(), GuiPolicyBackend(), 4, 3, knobs={"steps": (3, 5)}, temperature=1.0,
                     media=MediaStore.for_output(out)))
    write_trajectories(ts, out)
    return out


def _with_mc(t: Trajectory) -> Trajectory:
    """mc-shaped labels (values from the truth, so the targets carry signal a model can fit)."""
    t.meta = {**(t.meta or {}), "mc_root": {"n": 8, "n_correct": 4}}
    alive = True
    for s in t.steps:
        alive = alive and s.labels["truth"].verdict == "correct"
        k = 6 if alive else 0
        s.labels = {"mc": Label(score=k / 8, verdict="correct" if k else "incorrect", extra={"n": 8, "n_correct": k})}
    return t


def test_shipped_model_grades_gui_records_through_the_prm_grader(gui_records: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "graded.jsonl"
    code, _, err = run_cli(["grade", gui_records, out, "--grader", "prm", "--model", SHIPPED], capsys)
    assert code == 0, err
    graded = list(read_trajectories(out))
    assert len(graded) == 4
    for t in graded:
        labs = [s.labels["prm"] for s in t.steps]
        assert all(lab.score is not None and 0.0 <= lab.score <= 1.0 for lab in labs)
        assert all(lab.verdict in ("correct", "incorrect") for lab in labs)
        assert labs[0].cost is not None and labs[0].cost.calls == 1  # one pass per trajectory
    assert load_scorer(SHIPPED).kind == "vision"
    assert (SHIPPED / VISION_CONFIG_NAME).is_file()
    assert sum(f.stat().st_size for f in SHIPPED.iterdir()) < 5_000_000


def test_blanking_the_screen_changes_the_scores(gui_records: Path) -> None:
    ts = list(read_trajectories(gui_records))
    model = VisionStepRM.load(SHIPPED)
    seen = VisionScorer(model, resolver=MediaResolver(gui_records)).score_steps(ts)
    model.config.blank_images = True
    blind = VisionScorer(model, resolver=MediaResolver(gui_records)).score_steps(ts)
    diffs = [abs(a - b) for x, y in zip(seen, blind) for a, b in zip(x, y)]
    assert max(diffs) > 0.05


def test_training_on_a_tiny_set_makes_the_loss_fall(gui_records: Path) -> None:
    torch.set_num_threads(1)
    ts = [_with_mc(t) for t in read_trajectories(gui_records)]
    config = VisionStepRMConfig(**TINY)  # type: ignore[arg-type]
    examples, skipped = prepare(ts, config, MediaResolver(gui_records))
    assert skipped == 0 and len(examples) == 4
    torch.manual_seed(0)
    model = VisionStepRM(config)
    losses = train_vision_steps(model, examples, VisionTrainOptions(epochs=60, batch_size=4, lr=1e-2, warmup=5))
    assert sum(losses[-5:]) / 5 < 0.6 * losses[0]


def test_targets_come_from_mc_values_never_from_truth(gui_records: Path) -> None:
    t = _with_mc(next(iter(read_trajectories(gui_records))))
    adv = step_targets_from_mc(t, "mc", "advantage")
    # root value 4/8 -> smoothed 0.5; a step with 6/8 (0.7) keeps all of it
    assert adv[0] == 1.0
    verdicts = step_targets_from_mc(t, "mc", "verdict")
    assert all(v in (0.0, 1.0) for v in verdicts)
    with pytest.raises(Exception, match="never from truth"):
        step_targets_from_mc(t, "truth", "verdict")


def test_a_missing_screenshot_names_file_line_and_step(gui_records: Path, tmp_path: Path, capsys) -> None:
    d = tmp_path / "copy"
    shutil.copytree(gui_records.parent, d)
    src = d / gui_records.name
    second = list(read_trajectories(src))[1]
    ref = second.steps[2].images[0]
    if any(ref.sha256 == m.sha256 for t in list(read_trajectories(src))[:1] for s in t.steps for m in s.images):
        pytest.skip("the image is shared with the first record")
    (d / ref.path).unlink()
    code, _, err = run_cli(["grade", src, tmp_path / "g.jsonl", "--grader", "prm", "--model", SHIPPED], capsys)
    assert code == 2
    assert f"{src}:2:" in err and f"trajectory {second.id!r} step" in err and "missing" in err


def test_train_prm_picks_the_vision_model_for_records_with_screenshots(
    gui_records: Path, tmp_path: Path, capsys
) -> None:
    graded = tmp_path / "mc.jsonl"
    write_trajectories((_with_mc(t) for t in read_trajectories(gui_records)), graded, media_from=gui_records)
    out = tmp_path / "vprm"
    code, stdout, err = run_cli(["train-prm", graded, "--label", "mc", "--out", out, "--epochs", "1"], capsys)
    assert code == 0, err
    summary = json.loads(stdout.splitlines()[-2])
    assert summary["examples"] == 4 and summary["final_loss"] > 0
    cfg = VisionStepRMConfig.load(out)
    assert cfg.label == "mc" and cfg.targets == "verdict"
    model = VisionStepRM.load(out)
    inputs = trajectory_inputs(next(iter(read_trajectories(graded))), MediaResolver(graded),
                               ImageCache(cfg.screen), buckets=cfg.buckets, band=cfg.band)
    assert model([inputs])[0].shape == (inputs.steps,)
