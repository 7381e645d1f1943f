"""Real components together: the transformers backend + the arith world (+ the embedded
verifier when its weights are installed). Uses the embedded policy when it is trained,
else a tiny random Llama of the same kind, so the code path is always exercised."""

from __future__ import annotations

import pytest

from stepsieve.backends._tiny_model import build_tiny_llama, embedded_policy_dir
from stepsieve.backends.transformers import TransformersBackend
from stepsieve.graders.mc import MCGrader
from stepsieve.trajectory import Step, Trajectory
from stepsieve.worlds.arith import ArithWorld, task_to_dict


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    d = embedded_policy_dir() or build_tiny_llama(tmp_path_factory.mktemp("tiny") / "m", layers=1, hidden_size=64)
    return TransformersBackend(d)


def trajectories(world, n=3):
    out = []
    for i, task in enumerate(world.sample_tasks(n, seed=11, ops=4)):
        steps = world.reference(task)
        if i % 2 == 0:  # corrupt one step's arithmetic: a known first error, a wrong answer
            a, _, _ = steps[1].partition(" = ")
            steps = [*steps[:1], f"{a} = 1", "1 + 1 = 2", f"Answer: {int(task.answer) + 1}"]
        out.append(
            Trajectory(f"r{i}", task.problem, [Step(k, s) for k, s in enumerate(steps)],
                       meta={"world": "arith", "task": task_to_dict(task)})
        )
    return out


@pytest.mark.slow
def test_mc_with_transformers_backend_and_arith_world(backend):
    w = ArithWorld()
    kw = dict(n=2, temperature=1.0, max_tokens=24, seed=7)
    a = list(MCGrader(backend, w, mode="every-step", **kw).grade(trajectories(w)))
    b = list(MCGrader(backend, w, mode="every-step", **kw).grade(trajectories(w)))
    for ta, tb in zip(a, b):  # same seed: same rollouts, whatever the batch
        assert [s.labels["mc"].score for s in ta.steps] == [s.labels["mc"].score for s in tb.steps]
    for t in a:
        for s in t.steps[:-1]:
            lab = s.labels["mc"]
            assert 0.0 <= lab.score <= 1.0 and lab.extra["n"] == 2 and lab.cost.tokens_out > 0
        ok = w.check_answer(w.task_from_trajectory(t), w.parse_answer("\n".join(s.text for s in t.steps)))
        assert t.steps[-1].labels["mc"].score == float(ok)  # the answer line is its own value
    fe = MCGrader(backend, w, mode="first-error", **kw)
    out = list(fe.grade(trajectories(w)))
    assert out[1].first_error("mc") == -1  # the uncorrupted reference: right answer, no probes needed
    assert fe.probes <= 2 * 2  # two wrong trajectories of 4 steps: at most ceil(log2 4) probes each


def test_embedded_verifier_as_offline_judge():
    from stepsieve.embedded import VERIFIER_DIR
    from stepsieve.graders.judge import JudgeGrader

    if not (VERIFIER_DIR / "model.safetensors").is_file():
        pytest.skip("the embedded verifier is not trained yet (scripts/train_embedded.py)")
    w = ArithWorld()
    out = list(JudgeGrader().grade(trajectories(w)))
    for t in out:
        lab = t.steps[0].labels["judge"]
        assert lab.cost.calls == 1 and lab.grader.name == "judge"
        # a parsed verdict gives a first error in range; an unparsed one keeps the raw reply
        assert t.first_error("judge") in (None, *range(-1, len(t.steps)))
