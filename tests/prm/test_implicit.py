"""The implicit PRM: outcome-only training, one pass of each model, step rewards, checkpoint, grader."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from stepsieve._errors import ConfigError, DataError
from stepsieve.graders import GRADERS, GradeContext, build_grader
from stepsieve.prm import (
    IMPLICIT_CONFIG_NAME,
    ImplicitConfig,
    ImplicitPRM,
    ImplicitScorer,
    ImplicitTrainOptions,
    load_scorer,
    train_implicit_prm,
)
from stepsieve.prm._implicit import token_logprobs
from stepsieve.prm._render import collate
from stepsieve.trajectory import Label, Outcome, Step, Trajectory

TEMPLATE = "Q: {task}\nA:\n"


def outcome_traj(
    tid: str,
    task: str,
    steps: list[str],
    correct: bool | None,
    task_id: str | None = None,
    step_label: str | None = None,
) -> Trajectory:
    out = [
        Step(i, s, labels={step_label: Label(1.0, "correct")} if step_label else {})
        for i, s in enumerate(steps)
    ]
    return Trajectory(tid, task, out, Outcome(None, correct, None), meta={"task": {"id": task_id or task}})


def toy_data(n_tasks: int = 12) -> list[Trajectory]:
    """Right solutions end on ``ok``, wrong ones on ``no``: learnable from outcomes alone."""
    out = []
    for k in range(n_tasks):
        task = f"{k} + {k}"
        out.append(outcome_traj(f"{k}r", task, [f"{k} + {k} = {2 * k}", "ok"], True))
        out.append(outcome_traj(f"{k}w", task, [f"{k} + {k} = {2 * k + 1}", "no"], False))
    return out


@pytest.fixture(scope="module")
def trained(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("implicit") / "m"
    opts = ImplicitTrainOptions(epochs=6, batch_size=8, lr=3e-3, beta=0.5, dev_fraction=0.25, warmup=2)
    train_implicit_prm(toy_data(), base=tiny_base, out=out, options=opts, template=TEMPLATE)
    return out


def test_checkpoint_names_reference_and_beta(trained: Path, tiny_base: Path):
    cfg = json.loads((trained / IMPLICIT_CONFIG_NAME).read_text())
    assert cfg["reference"] == str(tiny_base) and cfg["beta"] == 0.5 and cfg["objective"] == "ce"
    assert cfg["label"] == "outcome" and cfg["training"]["examples"] > 0
    assert (trained / "model.safetensors").is_file() and not list(trained.glob("*.bin"))
    assert 0 < cfg["threshold"] < 1


def test_outcome_training_separates_right_from_wrong(trained: Path):
    model = ImplicitPRM.load(trained, device="cpu")
    data = toy_data()
    rendered = model.render_many([(t.task, t.steps) for t in data])
    with torch.no_grad():
        totals = [float(r.sum()) for r in model.step_rewards(rendered)]
    right = [x for x, t in zip(totals, data, strict=True) if t.outcome.correct]
    wrong = [x for x, t in zip(totals, data, strict=True) if not t.outcome.correct]
    assert min(right) > max(wrong)


def test_one_pass_of_each_model_and_rewards_equal_per_prefix_log_ratios(trained: Path):
    model = ImplicitPRM.load(trained, device="cpu")
    calls = {"policy": 0, "reference": 0}
    for name in calls:
        getattr(model, name).register_forward_hook(lambda *a, n=name: calls.__setitem__(n, calls[n] + 1))
    data = toy_data(3)
    scorer = ImplicitScorer(model, batch_size=16)
    scores = scorer.score_steps(data)
    assert calls == {"policy": 1, "reference": 1}  # one batched pass each for all trajectories
    assert scorer.stats.tokens == 2 * sum(
        len(r.input_ids) for r in model.render_many([(t.task, t.steps) for t in data])
    )
    beta = model.config.beta
    for t, s, rw in zip(data, scores, scorer.last_rewards, strict=True):
        # Independent check: each prefix scored alone; q_j = beta * the log ratio summed over its steps.
        q = []
        for k in range(1, len(t.steps) + 1):
            r = model.render_many([(t.task, t.steps[:k])])[0]
            ids, mask = collate([r], 0)
            with torch.no_grad():
                diff = token_logprobs(model.policy, ids, mask) - token_logprobs(model.reference, ids, mask)
            q.append(beta * float(diff[0, r.steps_start :].sum()))
        assert rw == pytest.approx([q[0]] + [b - a for a, b in itertools.pairwise(q)], abs=1e-4)
        assert s == pytest.approx([float(torch.sigmoid(torch.tensor(x))) for x in q], abs=1e-5)


def test_step_score_kind(trained: Path):
    model = ImplicitPRM.load(trained, device="cpu")
    data = toy_data(2)
    step = ImplicitScorer(model, score="step")
    s = step.score_steps(data)
    assert s[0] == pytest.approx(
        [float(torch.sigmoid(torch.tensor(r))) for r in step.last_rewards[0]], abs=1e-6
    )
    with pytest.raises(ConfigError):
        ImplicitScorer(model, score="bogus")


def test_training_reads_outcomes_never_step_labels(tiny_base: Path, tmp_path: Path):
    opts = ImplicitTrainOptions(epochs=1, batch_size=8, dev_fraction=0.0)
    plain = toy_data(4)
    marked = [
        outcome_traj(t.id, t.task, [s.text for s in t.steps], t.outcome.correct, step_label="truth")
        for t in plain
    ]
    a = train_implicit_prm(plain, base=tiny_base, out=tmp_path / "a", options=opts, template=TEMPLATE)
    b = train_implicit_prm(marked, base=tiny_base, out=tmp_path / "b", options=opts, template=TEMPLATE)
    for pa, pb in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(pa, pb)
    unknown = [outcome_traj("u", "1 + 1", ["1 + 1 = 2"], None)]
    with pytest.raises(DataError):
        train_implicit_prm(unknown, base=tiny_base, out=tmp_path / "c", options=opts, template=TEMPLATE)


def test_dpo_objective(tiny_base: Path, tmp_path: Path):
    opts = ImplicitTrainOptions(
        objective="dpo", epochs=6, batch_size=4, lr=3e-3, beta=0.5, dev_fraction=0.0, warmup=2
    )
    model = train_implicit_prm(
        toy_data(), base=tiny_base, out=tmp_path / "d", options=opts, template=TEMPLATE
    )
    assert ImplicitConfig.load(tmp_path / "d").objective == "dpo"
    data = toy_data()
    with torch.no_grad():
        totals = [
            float(r.sum()) for r in model.step_rewards(model.render_many([(t.task, t.steps) for t in data]))
        ]
    assert sum(totals[0::2]) > sum(totals[1::2])  # right solutions above wrong ones
    only_right = [t for t in data if t.outcome.correct]
    with pytest.raises(DataError):
        train_implicit_prm(only_right, base=tiny_base, out=tmp_path / "e", options=opts, template=TEMPLATE)


def test_implicit_grader(trained: Path):
    assert "implicit" in GRADERS.names()
    with pytest.raises(ConfigError):
        build_grader("implicit", {}, GradeContext())
    g = build_grader("implicit", {"batch_size": "4"}, GradeContext(model=str(trained)))
    data = list(g.grade(toy_data(3)))
    for t in data:
        labs = [s.labels["implicit"] for s in t.steps]
        assert labs[0].cost.calls == 2 and all(lab.cost.calls == 0 for lab in labs[1:])
        for lab in labs:
            assert lab.verdict == ("correct" if lab.score >= g.threshold else "incorrect")
            assert set(lab.extra) == {"reward", "q"}
    assert load_scorer(trained).kind == "implicit"


def test_cli_train_implicit(tiny_base: Path, tmp_path: Path):
    from stepsieve.cli import app
    from stepsieve.formats import write_trajectories

    data = tmp_path / "samples.jsonl"
    write_trajectories(toy_data(4), data)
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "train-prm",
            str(data),
            "--objective",
            "implicit",
            "--base",
            str(tiny_base),
            "--out",
            str(out),
            "--template",
            "Q: {task}\\nA:\\n",
            "--epochs",
            "1",
            "--beta",
            "0.1",
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = ImplicitConfig.load(out)
    assert cfg.beta == 0.1 and cfg.template == TEMPLATE
    res = CliRunner().invoke(
        app, ["train-prm", str(data), "--base", str(tiny_base), "--out", str(tmp_path / "x")]
    )
    assert res.exit_code != 0  # the steprm objective needs --label
