"""Reward functions: TRL's GRPOTrainer contract (a real 5-step run) and veRL's compute_score."""

from __future__ import annotations

import inspect
import math

import pytest

from stepsieve.prm import load_scorer
from stepsieve.rewards import StepRewardFunction, compute_score
from stepsieve.search import aggregate
from stepsieve.trajectory import Step, Trajectory

TASK = "A box holds 30 pens; 4 are taken, then the rest doubles."
STEPS = ["30 - 4 = 26", "26 * 2 = 53", "Answer: 53"]
PROMPT = f"Problem: {TASK}\nSolution:\n"


@pytest.fixture(scope="module")
def loaded():
    return load_scorer(None, device="cpu")  # the embedded StepRM


def test_trl_call_contract_and_aggregations(loaded):
    want = loaded.scorer.score_steps([Trajectory("t", TASK, [Step(i, s) for i, s in enumerate(STEPS)])])[0]
    for how in ("min", "last", "mean", "prod"):
        fn = StepRewardFunction(aggregate=how, loaded=loaded)
        # What TRL passes: keyword prompts / completions / completion_ids plus the dataset's other columns.
        out = fn(
            prompts=[PROMPT, PROMPT],
            completions=["\n".join(STEPS) + "\n", ""],
            completion_ids=[[1], []],
            answer=["52", "52"],
            trainer_state=None,
        )
        assert isinstance(out, list) and all(isinstance(x, float) for x in out)
        assert out[0] == pytest.approx(aggregate(want, how), abs=1e-6) and out[1] == 0.0
    conv = StepRewardFunction(loaded=loaded)(
        prompts=[[{"role": "user", "content": TASK}]],
        completions=[[{"role": "assistant", "content": "\n".join(STEPS)}]],
    )
    assert conv[0] == pytest.approx(min(want), abs=1e-6)
    with pytest.raises(Exception, match="aggregate"):
        StepRewardFunction(aggregate="max", loaded=loaded)


def test_verl_compute_score_contract(loaded):
    # veRL calls compute_score(data_source=..., solution_str=..., ground_truth=..., extra_info=...)
    # by keyword,
    # with reward_kwargs from its config merged in; it takes a float or a dict with "score".
    params = inspect.signature(compute_score).parameters
    assert list(params)[:4] == ["data_source", "solution_str", "ground_truth", "extra_info"]
    want = loaded.scorer.score_steps([Trajectory("t", TASK, [Step(i, s) for i, s in enumerate(STEPS)])])[0]
    out = compute_score(
        data_source="arith",
        solution_str="\n".join(STEPS),
        ground_truth="52",
        extra_info={"prompt": PROMPT},
        aggregate="last",
    )
    assert isinstance(out, dict) and out["score"] == pytest.approx(want[-1], abs=1e-6)
    assert out["prm_steps"] == 3.0 and all(isinstance(v, float) for v in out.values())
    assert compute_score("arith", "", "52", None)["score"] == 0.0


def test_grpo_trainer_runs_with_step_rewards(tmp_path, loaded):
    """TRL's real GRPOTrainer, 5 steps on the embedded policy, rewarded by the embedded StepRM."""
    pytest.importorskip("trl")
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from stepsieve.prm._implicit import resolve_reference
    from stepsieve.worlds import get_world

    torch.manual_seed(0)
    policy = resolve_reference("embedded:policy")
    world = get_world("arith")
    tasks = world.sample_tasks(8, 123, ops=(2, 3))
    data = Dataset.from_list([{"prompt": world.prompt(t), "answer": t.answer} for t in tasks])
    tok = AutoTokenizer.from_pretrained(str(policy))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    reward = StepRewardFunction(aggregate="min", loaded=loaded)
    args = GRPOConfig(
        output_dir=str(tmp_path / "grpo"),
        max_steps=5,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=32,
        learning_rate=1e-5,
        logging_steps=1,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        seed=0,
        gradient_checkpointing=False,  # TRL turns it on by default; it only costs time here
        bf16=False,  # TRL's default; bfloat16 autocast is emulated, slowly, on this CPU
        temperature=1.0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(policy)),
        reward_funcs=[reward],
        args=args,
        train_dataset=data,
        processing_class=tok,
    )
    trainer.train()
    assert reward.calls >= 5
    logged = [
        h["rewards/stepsieve_prm/mean"]
        for h in trainer.state.log_history
        if "rewards/stepsieve_prm/mean" in h
    ]
    assert len(logged) == 5
    means = [sum(r) / len(r) for r in reward.history]
    for m in logged:  # each logged mean is the mean of the rewards one call returned
        assert any(math.isclose(m, x, abs_tol=1e-5) for x in means), (m, means)
    assert all(0.0 <= x <= 1.0 for r in reward.history for x in r)
    assert any(x > 0 for r in reward.history for x in r)
