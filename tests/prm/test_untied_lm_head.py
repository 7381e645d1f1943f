"""Log-prob heads on a base with untied embeddings (like Qwen2.5-Math-7B): the features come
from the base's own LM head, not its input embeddings, and a saved StepRM carries that head so
it reloads offline (base gone) with identical scores. Sharded bases are read through their index."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file

from stepsieve import ConfigError
from stepsieve.prm import StepRM, StepRMConfig, StepRMScorer, TrainOptions, train_prm
from stepsieve.prm._features import policy_features
from stepsieve.prm._model import LM_HEAD_NAME, read_lm_head

from .conftest import labelled

TEMPLATE = "Problem: {task}\nSolution:\n"
TRAJ = labelled("a", "Tom has 3 apples and buys 4 more.", ["3 + 4 = 7", "7 * 2 = 14", "Answer: 14"], -1)


def _base_lm_head(base) -> torch.Tensor:
    return load_file(str(base / "model.safetensors"))["lm_head.weight"]


def test_features_use_the_lm_head_not_the_input_embeddings(tiny_base):
    from transformers import AutoModelForCausalLM

    model = StepRM.from_base(tiny_base, StepRMConfig(template=TEMPLATE, head="logprobs")).eval()
    assert not model.backbone.config.tie_word_embeddings
    assert torch.equal(model.lm_head, _base_lm_head(tiny_base))
    assert not torch.equal(model.lm_head, model.backbone.get_input_embeddings().weight)
    lm = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32).eval()
    r = model.render(TRAJ.task, TRAJ.steps)
    ids = torch.tensor([r.input_ids])
    with torch.no_grad():
        feats = model.step_features([r])[0]
        logp = torch.log_softmax(lm(ids).logits[0], -1)
        hidden = model.backbone(input_ids=ids).last_hidden_state
        emb = model.backbone.get_input_embeddings().weight
        wrong = policy_features(hidden, emb, ids, [r], len(r.step_positions))[0]
    prev = r.steps_start
    for j, sep in enumerate(r.step_positions):
        lps = [float(logp[t - 1, r.input_ids[t]]) for t in range(prev, sep + 1)]
        assert float(feats[j, 0]) * 5 == pytest.approx(max(min(lps), -20.0), abs=1e-4)
        assert float(feats[j, 1]) * 5 == pytest.approx(max(sum(lps) / len(lps), -20.0), abs=1e-4)
        assert float(feats[j, 2]) * 5 == pytest.approx(max(lps[-1], -20.0), abs=1e-4)
        prev = sep + 1
    assert not torch.allclose(feats[:, :3], wrong[:, :3], atol=1e-3)


@pytest.mark.parametrize("freeze", [True, False])
def test_trained_logprobs_head_reloads_offline_with_identical_scores(tiny_base, tmp_path, freeze):
    base = shutil.copytree(tiny_base, tmp_path / "base")
    want_head = _base_lm_head(base)
    data = [labelled(f"t{i}", f"Add {i}.", [f"{i} + 1 = {i + 1}", "Answer"], i % 2) for i in range(16)]
    trained = train_prm(data, base=base, out=tmp_path / "rm", label="mc", template=TEMPLATE,
                        head="logprobs", head_width=8, freeze_backbone=freeze,
                        options=TrainOptions(epochs=2, batch_size=8, lr=1e-2, warmup=1), device="cpu")
    assert torch.equal(load_file(str(tmp_path / "rm" / LM_HEAD_NAME))["lm_head.weight"], want_head)
    assert torch.equal(trained.lm_head, want_head)  # frozen: training never moves it
    shutil.rmtree(base)  # the checkpoint alone must do
    loaded = StepRM.load(tmp_path / "rm", device="cpu")
    assert loaded.config.head == "logprobs" and torch.equal(loaded.lm_head, want_head)
    a = StepRMScorer(trained).score_steps(data[:6])
    b = StepRMScorer(loaded).score_steps(data[:6])
    assert len({round(x, 5) for s in a for x in s}) > 1
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-6)


def test_sharded_base_lm_head_is_read_through_the_index(tiny_base, tmp_path):
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32)
    lm.save_pretrained(str(tmp_path / "sharded"), max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    assert not (tmp_path / "sharded" / "model.safetensors").exists()
    assert torch.equal(read_lm_head(tmp_path / "sharded"), _base_lm_head(tiny_base))


def test_missing_lm_head_is_a_clear_error(tiny_base, tmp_path):
    from transformers import AutoModel

    AutoModel.from_pretrained(str(tiny_base)).save_pretrained(str(tmp_path / "headless"))
    with pytest.raises(ConfigError, match=r"lm_head\.weight"):
        read_lm_head(tmp_path / "headless")


def test_linear_head_on_an_untied_base_carries_no_lm_head(tiny_base, tmp_path):
    model = StepRM.from_base(tiny_base, StepRMConfig(head="linear"))
    assert model.lm_head is None
    model.save(tmp_path / "rm")
    assert not (tmp_path / "rm" / LM_HEAD_NAME).exists()
