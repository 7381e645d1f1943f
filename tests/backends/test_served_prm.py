"""A published PRM's architecture served by real vLLM (CPU) as a pooling model, scored by the
``prm`` grader through the pooling API: a tiny randomly initialised Qwen2ForProcessRewardModel
(Qwen2.5-Math-PRM's architecture) built in the test — real server, real loader, fake weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _cli import run_cli as run
from _vllm import running

from stepsieve._errors import BackendError
from stepsieve.backends._server import CHAT_TEMPLATE, VLLMServer, vllm_python
from stepsieve.backends._tiny_model import build_tiny_qwen2_prm
from stepsieve.backends.openai import OpenAIBackend
from stepsieve.formats import get_format, read_trajectories
from stepsieve.prm._served import ServedPRMGrader
from stepsieve.trajectory import Step, Trajectory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    python = vllm_python(REPO)
    if not python.exists():
        pytest.fail(
            f"vLLM's venv is missing ({python}): run `bash scripts/setup_test_server.sh`", pytrace=False
        )
    model, tag_id = build_tiny_qwen2_prm(
        tmp_path_factory.mktemp("qwen2-prm") / "model", chat_template=CHAT_TEMPLATE
    )
    yield from running(
        VLLMServer(
            python, model, tmp_path_factory.mktemp("vllm-prm"), served_name="tiny-prm", startup_timeout=900,
            pooler={"step_tag_id": tag_id},
        )
    )


def _trajectories() -> list[Trajectory]:
    return [
        Trajectory("a", "What is 2+3?", [Step(0, "2+3 = 5"), Step(1, "The answer is 5")]),
        Trajectory(
            "b", "What is 7*6?", [Step(0, "7*6 = 42"), Step(1, "42 - 0 = 42"), Step(2, "The answer is 42")]
        ),
    ]


def test_step_scores_come_from_the_servers_pooling_rows(prm_server: VLLMServer) -> None:
    backend = OpenAIBackend("tiny-prm", base_url=prm_server.base_url, progress=False)
    grader = ServedPRMGrader(backend)  # the qwen layout: chat messages, <extra_0> after each step
    ts = list(grader.grade(_trajectories()))
    for t in ts:
        scores = [s.labels["prm"].score for s in t.steps]
        assert all(0.0 <= p <= 1.0 for p in scores)
    # the rows are the server's: one per step tag, two classes summing to 1; column 1 is P(correct)
    (pooled,) = backend.pool([grader.request(ts[1])])
    assert len(pooled.rows) == 3 and all(abs(sum(r) - 1) < 1e-5 for r in pooled.rows)
    assert [r[1] for r in pooled.rows] == pytest.approx([s.labels["prm"].score for s in ts[1].steps])
    assert pooled.tokens > 0 and ts[1].steps[0].labels["prm"].cost.tokens_in == pooled.tokens


def test_a_step_tag_the_server_does_not_pool_is_an_error(prm_server: VLLMServer) -> None:
    backend = OpenAIBackend("tiny-prm", base_url=prm_server.base_url, progress=False)
    grader = ServedPRMGrader(backend, prompt="text", step_tag="\n\n")  # not the served model's tag
    with pytest.raises(BackendError, match=r"trajectory 'a': the server returned 0 step rows for 2 steps"):
        list(grader.grade(_trajectories()))


def test_grade_cli_scores_through_the_server(prm_server: VLLMServer, tmp_path: Path, capsys) -> None:
    get_format("stepsieve").write(_trajectories(), tmp_path / "in.jsonl")
    code, _, err = run(
        [
            "grade",
            tmp_path / "in.jsonl",
            tmp_path / "out.jsonl",
            "--grader",
            "prm",
            "--backend",
            "openai",
            "--base-url",
            prm_server.base_url,
            "--model",
            "tiny-prm",
            "--no-cache",
        ],
        capsys,
    )
    assert code == 0, err
    got = list(read_trajectories(tmp_path / "out.jsonl"))
    assert [len(t.steps) for t in got] == [2, 3]
    assert all(s.labels["prm"].verdict in ("correct", "incorrect") for t in got for s in t.steps)
    assert got[0].steps[0].labels["prm"].grader.name == "prm"
