"""Sampling with the embedded policy: deterministic for a fixed seed, independent of
batching, exact truth labels and outcomes; the shipped models load offline."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import orjson
import pytest

from stepsieve.embedded import POLICY_DIR, VERIFIER_DIR
from stepsieve.sampling import TRUTH, rollout, sample, summarize
from stepsieve.trajectory import Trajectory
from stepsieve.worlds import get_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def backend():
    from stepsieve.backends import BACKENDS

    return BACKENDS.get("transformers")(None)  # None: the embedded policy


def _dicts(ts) -> list[dict]:
    return [t.to_dict() for t in ts]


def test_arith_sampling_is_deterministic_and_batch_independent(backend) -> None:
    w = get_world("arith")
    kw = {"knobs": {"ops": (2, 3)}, "max_tokens": 60}
    a = _dicts(sample(w, backend, 4, seed=3, **kw))
    b = _dicts(sample(w, backend, 4, seed=3, batch_size=2, **kw))
    c = _dicts(sample(w, backend, 4, seed=4, **kw))
    assert a == b
    assert [x["steps"] for x in a] != [x["steps"] for x in c]


def test_arith_trajectories_carry_exact_truth(backend) -> None:
    w = get_world("arith")
    ts = list(sample(w, backend, 6, seed=0, knobs={"ops": (4, 6)}, samples_per_task=2, max_tokens=110))
    assert len(ts) == 12 and len({t.id for t in ts}) == 12
    for t in ts:
        task = w.task_from_trajectory(Trajectory.from_dict(t.to_dict()))
        steps = [s.text for s in t.steps]
        fe = w.first_error(task, steps)
        assert t.first_error(TRUTH) == (fe if steps != [""] else 0)
        assert t.outcome.correct == w.check_answer(task, w.parse_answer("\n".join(steps)))
        verdicts = [s.labels[TRUTH].verdict for s in t.steps]
        if fe >= 0:
            assert verdicts[fe] == "incorrect" and all(v is None for v in verdicts[fe + 1 :])
        if fe == -1 and w.is_complete(task, steps):  # no wrong step and an answer: it is right
            assert t.outcome.correct and all(v == "correct" for v in verdicts)
    s = summarize(ts)
    assert s["n"] == 12 and sum(s["first_error_hist"].values()) == 12


def test_toolcalc_sampling_replays_and_is_deterministic(backend) -> None:
    w = get_world("toolcalc")
    a = list(sample(w, backend, 3, seed=1, knobs={"ops": (2, 3)}))
    assert _dicts(a) == _dicts(sample(w, backend, 3, seed=1, knobs={"ops": (2, 3)}, batch_size=1))
    for t in a:
        task = w.task_from_trajectory(t)
        actions = [s.text for s in t.steps]
        assert [s.observation for s in t.steps] == w.replay(task, actions)
        assert all(s.kind == "action" and s.meta is None for s in t.steps)
        # the machine form of each action: one real tool call, its id paired with the step
        for s in t.steps:
            (a,) = s.actions
            assert a.type == "tool" and a.id == f"call_{s.index}" and a.name in ("calculator", "answer")
            assert orjson.loads(a.arguments) and s.text.startswith(a.name)
        assert isinstance(t.task, list) and t.task[0]["role"] == "system"


def test_rollout_continues_a_prefix(backend) -> None:
    w = get_world("arith")
    task = w.sample_tasks(1, 5, ops=4)[0]
    prefix = w.reference(task)[:2]
    out = rollout(w, backend, [(task, prefix)], n=3, seed=0, max_tokens=80)
    assert len(out) == 1 and len(out[0]) == 3
    assert out == rollout(w, backend, [(task, prefix)], n=3, seed=0, max_tokens=80)
    carried = prefix[-1].split("= ")[1]
    # the continuations pick up after the prefix: from its last result, not from the start
    assert any(steps and steps[0].startswith(carried + " ") for steps, _ in out[0])


def test_models_ship_as_package_data_and_load_offline() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["stepsieve"]
    pkg = ROOT / "src" / "stepsieve"
    for d in (POLICY_DIR, VERIFIER_DIR):
        for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
            rel = (d / name).relative_to(pkg).as_posix()
            assert any(fnmatch(rel, g) or fnmatch(name, g.removeprefix("**/")) for g in globs), rel
        assert (d / "model.safetensors").stat().st_size < 20_000_000
    code = (
        "from stepsieve.embedded import load_model\n"
        "for name in ('policy', 'verifier'):\n"
        "    m, t = load_model(name)\n"
        "    assert type(m).__name__ == 'LlamaForCausalLM' and m.config.head_dim in (32, 64)\n"
        "    assert t.eos_token_id is not None and t.decode(t('7 + 8 = 15')['input_ids']) == '7 + 8 = 15'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": "/nonexistent"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd="/", check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_world_capabilities_are_protocols() -> None:
    """Optional world capabilities are checked by runtime protocols, not attribute names:
    an agent world must implement the whole AgentWorld protocol, not just two names."""
    from stepsieve.sampling._sample import ChatTasks, Diagnoses, ToolCalls
    from stepsieve.worlds import AgentWorld, World

    arith, toolcalc = get_world("arith"), get_world("toolcalc")
    assert isinstance(arith, World) and not isinstance(arith, AgentWorld)
    assert isinstance(toolcalc, AgentWorld)
    assert isinstance(arith, Diagnoses) and isinstance(toolcalc, Diagnoses)
    assert isinstance(toolcalc, ChatTasks) and isinstance(toolcalc, ToolCalls)
    assert not isinstance(arith, ChatTasks) and not isinstance(arith, ToolCalls)

    class HalfAgent:  # replay and done, but none of the World methods
        name = "half"

        def replay(self, task, actions):
            return []

        def done(self, actions):
            return True

    assert not isinstance(HalfAgent(), AgentWorld)


def test_dry_run_backend_is_a_backend_with_a_summary() -> None:
    from stepsieve.backends import Backend, HasSummary
    from stepsieve.backends._dryrun import DryRunBackend

    dry = DryRunBackend("openai", "m", lambda ts: [len(t) for t in ts], False)
    assert isinstance(dry, Backend) and isinstance(dry, HasSummary)
    assert not isinstance(object(), HasSummary)
