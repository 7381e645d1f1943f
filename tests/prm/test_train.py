"""Training: soft labels stay floats all the way to the loss; a few steps reduce the loss;
the checkpoint is a from_pretrained directory that scores exactly as the trained model."""

from __future__ import annotations

import json

import orjson
import pytest
import torch
from typer.testing import CliRunner

from stepsieve import DataError
from stepsieve.prm import (
    PRMGrader,
    StepRM,
    StepRMConfig,
    StepRMScorer,
    TrainOptions,
    make_examples,
    step_targets,
    train_prm,
    train_steps,
)
from stepsieve.prm._train import _batch_loss

from .conftest import labelled

SOFT = [0.75, 0.25, 0.0]


def _soft_data(n: int = 24):
    return [labelled(f"t{i}", f"Add {i} and {i + 1}.", [f"{i} + {i + 1} = {2 * i + 1}", "more", "Answer"],
                     1, soft=SOFT) for i in range(n)]


def test_soft_targets_stay_floats():
    t = _soft_data(1)[0]
    assert step_targets(t, "mc", soft=True) == [0.75, 0.25, 0.0]
    # hard: verdicts; the undecided step after the first error counts as incorrect by default
    assert step_targets(t, "mc", soft=False) == [1.0, 0.0, 0.0]
    assert step_targets(t, "mc", soft=False, after_error="skip") == [1.0, 0.0, None]


def test_bce_receives_float_targets(tiny_base, monkeypatch):
    model = StepRM.from_base(tiny_base, StepRMConfig())
    examples, _ = make_examples(model, _soft_data(2), "mc", soft=True, after_error="incorrect")
    seen = {}
    real = torch.nn.functional.binary_cross_entropy_with_logits

    def spy(inp, target, *a, **k):
        seen["target"] = target
        return real(inp, target, *a, **k)

    monkeypatch.setattr(torch.nn.functional, "binary_cross_entropy_with_logits", spy)
    _batch_loss(model, examples, bf16=False)
    assert seen["target"].dtype == torch.float32
    assert seen["target"].tolist() == SOFT * 2


@pytest.mark.slow  # ~30 s on an idle 2-core machine: 80 optimiser steps
def test_soft_training_reduces_loss_and_learns_the_soft_value(tiny_base):
    model = StepRM.from_base(tiny_base, StepRMConfig(), seed=0)
    data = _soft_data(16)
    examples, _ = make_examples(model, data, "mc", soft=True, after_error="incorrect")
    losses = train_steps(model, examples, TrainOptions(epochs=40, batch_size=8, lr=3e-3, warmup=2))
    assert sum(losses[-3:]) / 3 < losses[0] - 0.1
    probs = StepRMScorer(model).score_steps(data)
    mean = [sum(p[j] for p in probs) / len(probs) for j in range(3)]
    # A step with target 0.25 is pulled towards 0.25, not to 0: floats were not rounded.
    # (Rounded targets would give 0 or 1 here; the optimum of BCE on a 0.25 target is 0.25.)
    assert mean[0] == pytest.approx(0.75, abs=0.1)
    assert mean[1] == pytest.approx(0.25, abs=0.1)
    assert mean[2] < 0.1


def test_checkpoint_round_trip_and_grader(tiny_base, tmp_path):
    out = tmp_path / "steprm"
    data = _soft_data(24)
    trained = train_prm(data, base=tiny_base, out=out, label="mc", soft=True,
                        options=TrainOptions(epochs=1, batch_size=8), device="cpu")
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "prm_head.safetensors", "stepsieve_prm.json", "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    cfg = json.loads((out / "stepsieve_prm.json").read_text())
    assert cfg["label"] == "mc" and cfg["soft"] is True and cfg["separator"] == "\n"
    assert cfg["base"] == str(tiny_base) and cfg["training"]["options"]["batch_size"] == 8
    loaded = StepRM.load(out, device="cpu")
    a = StepRMScorer(trained).score_steps(data[:3])
    b = StepRMScorer(loaded).score_steps(data[:3])
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-6)

    grader = PRMGrader(out, threshold=0.5, batch_size=2, device="cpu")
    graded = list(grader.grade(_soft_data(3)))
    for t, s in zip(graded, a):
        assert [st.labels["prm"].score for st in t.steps] == pytest.approx(s, abs=1e-6)
        assert [st.labels["prm"].verdict for st in t.steps] == ["correct" if p >= 0.5 else "incorrect" for p in s]
        assert t.steps[0].labels["prm"].cost.calls == 1 and t.steps[0].labels["prm"].cost.tokens_in > 0
        assert t.steps[1].labels["prm"].cost.calls == 0
        assert t.steps[0].labels["prm"].grader.name == "prm"


def test_registered_as_prm_grader():
    from stepsieve.graders._protocol import GRADERS

    assert GRADERS.get("prm") is PRMGrader


def test_missing_label_is_a_clear_error(tiny_base, tmp_path):
    with pytest.raises(DataError, match="no trajectory carries label 'judge'"):
        train_prm(_soft_data(2), base=tiny_base, out=tmp_path / "x", label="judge", device="cpu")


def test_cli_train_prm(tiny_base, tmp_path):
    from stepsieve.cli import app

    data = tmp_path / "graded.jsonl"
    data.write_bytes(b"".join(orjson.dumps(t.to_dict()) + b"\n" for t in _soft_data(8)))
    out = tmp_path / "rm"
    res = CliRunner().invoke(app, ["train-prm", str(data), "--base", str(tiny_base), "--out", str(out),
                                   "--label", "mc", "--soft", "--epochs", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-2])["examples"] == 8
    assert StepRMConfig.load(out).soft is True

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "task": "t", "steps": [{"text": "x"}]}\n{"id": "b", "task": "t"}\n')
    res = CliRunner().invoke(app, ["train-prm", str(bad), "--base", str(tiny_base), "--out", str(out),
                                   "--label", "mc"])
    assert res.exit_code != 0
    assert f"{bad}:2" in str(res.exception)
