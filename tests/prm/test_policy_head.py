"""The ``policy`` head: the backbone's own token log-probabilities are read from the same
pass, the policy's prompt template is honoured, one pass still equals one pass per prefix,
and a frozen backbone stays exactly the base while the head learns."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from stepsieve import ConfigError
from stepsieve.prm import (
    StepRM,
    StepRMConfig,
    StepRMScorer,
    TrainOptions,
    make_examples,
    score_per_prefix,
    train_prm,
)
from stepsieve.prm._train import _batch_loss

from .conftest import labelled

TEMPLATE = "Problem: {task}\nSolution:\n"
TRAJS = [
    labelled("a", "Tom has 3 apples and buys 4 more.", ["3 + 4 = 7", "7 * 2 = 14", "Answer: 14"], -1),
    labelled("b", "Start at 10, add 5.", ["10 + 5 = 16", "Answer: 16"], 0),
    labelled("c", "One step.", ["x"], 0),
]


@pytest.fixture(scope="module")
def model(tiny_tied_base):
    torch.manual_seed(3)
    m = StepRM.from_base(tiny_tied_base, StepRMConfig(template=TEMPLATE, head="policy", head_width=8))
    for p in m.head.parameters():
        torch.nn.init.normal_(p, std=0.5)  # non-trivial scores
    return m.eval()


def test_template_lays_out_the_task_and_marks_where_steps_start(model):
    r = model.render(TRAJS[0].task, TRAJS[0].steps)
    prefix = model.tokenizer.decode(r.input_ids[: r.steps_start], skip_special_tokens=True)
    assert prefix == "Problem: Tom has 3 apples and buys 4 more.\nSolution:\n"
    assert model.tokenizer.decode(r.input_ids[r.steps_start : r.step_positions[0]]) == "3 + 4 = 7"


def test_log_prob_features_match_the_causal_lm(model, tiny_tied_base):
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(str(tiny_tied_base), dtype=torch.float32).eval()
    r = model.render(TRAJS[0].task, TRAJS[0].steps)
    with torch.no_grad():
        feats = model.step_features([r])[0]
        logp = torch.log_softmax(lm(torch.tensor([r.input_ids])).logits[0], -1)
    hidden = model.backbone.config.hidden_size
    prev = r.steps_start
    for j, sep in enumerate(r.step_positions):
        lps = [float(logp[t - 1, r.input_ids[t]]) for t in range(prev, sep + 1)]
        assert float(feats[j, hidden + 0]) * 5 == pytest.approx(max(min(lps), -20.0), abs=1e-4)
        assert float(feats[j, hidden + 1]) * 5 == pytest.approx(max(sum(lps) / len(lps), -20.0), abs=1e-4)
        assert float(feats[j, hidden + 2]) * 5 == pytest.approx(max(lps[-1], -20.0), abs=1e-4)
        prev = sep + 1


def test_one_pass_equals_per_prefix_with_the_policy_head(model):
    one = StepRMScorer(model, batch_size=2).score_steps(TRAJS)
    per = score_per_prefix(model, TRAJS, batch_size=2)
    for a, b in zip(one, per):
        assert a == pytest.approx(b, abs=1e-5)
    assert len({round(x, 4) for s in one for x in s}) > 1


def test_frozen_backbone_trains_the_head_only(tiny_tied_base, tmp_path):
    data = [labelled(f"t{i}", f"Add {i}.", [f"{i} + 1 = {i + 1}", "Answer"], i % 2) for i in range(24)]
    trained = train_prm(data, base=tiny_tied_base, out=tmp_path / "rm", label="mc", template=TEMPLATE,
                        head="policy", head_width=8, freeze_backbone=True,
                        options=TrainOptions(epochs=3, batch_size=8, lr=1e-2, warmup=1), device="cpu")
    base = load_file(str(tiny_tied_base / "model.safetensors"))
    saved = load_file(str(tmp_path / "rm" / "model.safetensors"))
    shared = [k for k in saved if "model." + k in base or k in base]
    assert shared
    for k in shared:
        assert torch.equal(saved[k], base.get(k, base.get("model." + k)))
    loaded = StepRM.load(tmp_path / "rm", device="cpu")
    assert loaded.config.head == "policy" and loaded.config.template == TEMPLATE
    a = StepRMScorer(trained).score_steps(data[:4])
    b = StepRMScorer(loaded).score_steps(data[:4])
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-6)


def test_error_weight_scales_the_loss_of_incorrect_targets(model):
    examples, _ = make_examples(model, TRAJS, "mc", soft=False, after_error="incorrect")
    with torch.no_grad():
        logits = model.step_logits([e.rendered for e in examples])
        plain = _batch_loss(model, examples, False, 1.0, logits)
        heavy = _batch_loss(model, examples, False, 3.0, logits)
        x = torch.cat(list(logits))
        y = torch.tensor([v for e in examples for v in e.targets])
        w = torch.where(y < 0.5, 3.0, 1.0)
        want = torch.nn.functional.binary_cross_entropy_with_logits(x, y, weight=w)
    assert float(heavy) == pytest.approx(float(want), rel=1e-5)
    assert float(heavy) != pytest.approx(float(plain), rel=1e-3)


def test_untied_policy_head_needs_the_lm_head_weight(tiny_base):
    from transformers import AutoModel

    from stepsieve.prm._model import load_tokenizer

    backbone = AutoModel.from_pretrained(str(tiny_base), dtype=torch.float32)
    with pytest.raises(ConfigError, match="untied"):
        StepRM(backbone, load_tokenizer(tiny_base), StepRMConfig(head="policy"))


def test_cli_trains_a_frozen_policy_head_with_the_policy_template(tiny_tied_base, tmp_path):
    import orjson
    from typer.testing import CliRunner

    from stepsieve.cli import app

    data = tmp_path / "graded.jsonl"
    rows = [labelled(f"t{i}", f"Add {i}.", [f"{i} + 1 = {i + 1}", "Answer"], i % 2) for i in range(8)]
    data.write_bytes(b"".join(orjson.dumps(t.to_dict()) + b"\n" for t in rows))
    res = CliRunner().invoke(app, ["train-prm", str(data), "--base", str(tiny_tied_base), "--out", str(tmp_path / "rm"),
                                   "--label", "mc", "--head", "policy", "--freeze-backbone", "--epochs", "1",
                                   "--template", "Problem: {task}\\nSolution:\\n", "--error-weight", "2",
                                   "--device", "cpu"])
    assert res.exit_code == 0, res.output
    cfg = StepRMConfig.load(tmp_path / "rm")
    assert cfg.template == TEMPLATE and cfg.head == "policy" and cfg.freeze_backbone
    assert cfg.training["options"]["error_weight"] == 2.0

    # the joint stage from the CLI: the checkpoint says the backbone was trained
    res = CliRunner().invoke(app, ["train-prm", str(data), "--base", str(tiny_tied_base), "--out", str(tmp_path / "ft"),
                                   "--label", "mc", "--head", "logprobs", "--freeze-backbone", "--epochs", "1",
                                   "--finetune-epochs", "1", "--finetune-lr", "1e-4", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    cfg = StepRMConfig.load(tmp_path / "ft")
    assert not cfg.freeze_backbone and cfg.training["options"]["finetune_epochs"] == 1
    assert cfg.training["options"]["finetune_lr"] == 1e-4


def test_logprobs_head_reads_only_the_log_prob_features(tiny_tied_base):
    both = StepRM.from_base(tiny_tied_base, StepRMConfig(template=TEMPLATE, head="policy"))
    only = StepRM.from_base(tiny_tied_base, StepRMConfig(template=TEMPLATE, head="logprobs"))
    r = only.render(TRAJS[0].task, TRAJS[0].steps)
    with torch.no_grad():
        a, b = both.step_features([r])[0], only.step_features([r])[0]
    hidden = both.backbone.config.hidden_size
    assert b.shape == (len(TRAJS[0].steps), a.shape[1] - hidden)
    assert torch.allclose(a[:, hidden:], b)
    one = StepRMScorer(only, batch_size=2).score_steps(TRAJS)
    per = score_per_prefix(only, TRAJS, batch_size=2)
    for x, y in zip(one, per):
        assert x == pytest.approx(y, abs=1e-5)


def test_finetune_stage_trains_the_backbone_after_the_head(tiny_tied_base, tmp_path):
    """finetune_epochs: head on the frozen base first, then both together; the saved backbone
    moves off the base, the checkpoint says so, and it reloads with the same scores."""
    data = [labelled(f"t{i}", f"Add {i}.", [f"{i} + 1 = {i + 1}", "Answer"], i % 2) for i in range(24)]
    opts = TrainOptions(epochs=2, batch_size=8, lr=1e-2, warmup=1, finetune_epochs=1, finetune_lr=1e-2)
    trained = train_prm(data, base=tiny_tied_base, out=tmp_path / "rm", label="mc", template=TEMPLATE,
                        head="logprobs", head_width=8, freeze_backbone=True, options=opts, device="cpu")
    base = load_file(str(tiny_tied_base / "model.safetensors"))
    saved = load_file(str(tmp_path / "rm" / "model.safetensors"))
    shared = [k for k in saved if "model." + k in base or k in base]
    assert shared and any(not torch.equal(saved[k], base.get(k, base.get("model." + k))) for k in shared)
    loaded = StepRM.load(tmp_path / "rm", device="cpu")
    assert loaded.config.freeze_backbone is False
    training = loaded.config.training
    assert training["options"]["finetune_epochs"] == 1
    assert training["head_stage_steps"] == 2 * -(-training["examples"] // 8)  # two head-only epochs of batch 8
    a = StepRMScorer(trained).score_steps(data[:4])
    b = StepRMScorer(loaded).score_steps(data[:4])
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-6)


def test_finetune_stage_needs_a_head_stage_first(tiny_tied_base, tmp_path):
    with pytest.raises(ConfigError, match="freeze_backbone"):
        train_prm(TRAJS, base=tiny_tied_base, out=tmp_path / "rm", label="mc", head="logprobs",
                  options=TrainOptions(epochs=1, finetune_epochs=1), device="cpu")
    with pytest.raises(ConfigError, match="finetune"):
        TrainOptions(finetune_epochs=-1)
