"""The separator sits at the same token positions in training and scoring, and one-pass
scoring equals one pass per prefix."""

from __future__ import annotations

import pytest
import torch

from stepsieve import ConfigError
from stepsieve.prm import (
    StepRM,
    StepRMConfig,
    StepRMScorer,
    make_examples,
    render,
    render_trajectory,
    score_per_prefix,
    separator_token_id,
)
from stepsieve.trajectory import Step, Trajectory

from .conftest import labelled

TRAJS = [
    labelled(
        "a", "Tom has 3 apples and buys 4 more, then doubles them.", ["3 + 4 = 7", "7 * 2 = 14", "Answer: 14"], -1
    ),
    labelled("b", "Start at 10, add 5, subtract 2.", ["10 + 5 = 16", "16 - 2 = 14", "Answer: 14"], 0),
    # A step that itself contains the separator string must still yield one position per step.
    labelled("c", "Multi\nline task.", ["first line\nstill step 0", "step 1"], 1),
]


@pytest.fixture(scope="module")
def model(tiny_base):
    return StepRM.from_base(tiny_base, StepRMConfig(separator="\n", label="mc"))


def test_separator_id_comes_from_the_tokenizer(model):
    assert model.separator_id == model.tokenizer.encode("\n", add_special_tokens=False)[0]
    with pytest.raises(ConfigError, match="one token"):
        separator_token_id(model.tokenizer, "\n\n")


def test_training_and_scoring_read_the_same_positions(model, monkeypatch):
    examples, skipped = make_examples(model, TRAJS, "mc", soft=False, after_error="incorrect")
    assert skipped == 0
    seen = []
    real = model.step_logits

    def spy(batch):
        seen.extend(batch)
        return real(batch)

    monkeypatch.setattr(model, "step_logits", spy)
    StepRMScorer(model, batch_size=2).score_steps(TRAJS)
    by_ids = {tuple(r.input_ids): r.step_positions for r in seen}
    for ex in examples:
        assert by_ids[tuple(ex.rendered.input_ids)] == ex.rendered.step_positions
        assert len(ex.rendered.step_positions) == len(ex.trajectory.steps)
        assert all(ex.rendered.input_ids[p] == model.separator_id for p in ex.rendered.step_positions)
        # The token right before each separator is the last character of that step's text.
        for p, step in zip(ex.rendered.step_positions, ex.trajectory.steps):
            assert model.tokenizer.decode([ex.rendered.input_ids[p - 1]]) == step.text[-1]


def test_prefix_rendering_is_a_prefix_of_the_full_rendering(model):
    t = TRAJS[0]
    full = render_trajectory(model.tokenizer, t, model.separator_id)
    for k in range(1, len(t.steps) + 1):
        part = render(model.tokenizer, t.task, t.steps[:k], model.separator_id)
        assert full.input_ids[: len(part.input_ids)] == part.input_ids
        assert part.step_positions == full.step_positions[:k]


def test_one_pass_scores_equal_per_prefix_scores(model):
    torch.manual_seed(1)
    torch.nn.init.normal_(model.head.weight, std=0.5)  # non-trivial scores
    one = StepRMScorer(model, batch_size=2).score_steps(TRAJS)
    per = score_per_prefix(model, TRAJS, batch_size=3)
    assert [len(s) for s in one] == [len(t.steps) for t in TRAJS]
    for a, b in zip(one, per):
        assert a == pytest.approx(b, abs=1e-5)
    assert len({round(x, 4) for s in one for x in s}) > 1  # the head reads different states


def test_action_steps_render_thought_action_and_observation(model):
    t = Trajectory("x", [{"role": "user", "content": "add 2 and 3"}],
                   [Step(0, "add(2, 3)", kind="action", observation="5", thought="I add")])
    r = render_trajectory(model.tokenizer, t, model.separator_id)
    text = model.tokenizer.decode(r.input_ids[1:])
    assert text == "user: add 2 and 3\nI add | add(2, 3) | 5\n"


def test_head_reads_the_token_trl_prm_trainer_labels(model):
    """TRL 1.13's ``PRMTrainer.tokenize_row`` (the layout of the ``trl-stepwise`` rows): ``[bos]`` +
    prompt ids, then per step its ids + the separator's, the step's label on the last of them.
    With the task laid out as TRL lays the prompt (template ``"{task}"``), stepsieve renders the
    same ids and reads its head exactly where TRL puts each label (issue 18's side by side)."""
    tok = model.tokenizer
    t = TRAJS[0]
    sep = tok.encode("\n", add_special_tokens=False)
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    ids = bos + tok(t.task, add_special_tokens=False)["input_ids"]
    labelled_at = []
    for s in t.steps:
        ids += tok(s.text, add_special_tokens=False)["input_ids"] + sep
        labelled_at.append(len(ids) - 1)
    r = render(tok, t.task, t.steps, model.separator_id, template="{task}")
    assert r.input_ids == ids
    assert r.step_positions == labelled_at
