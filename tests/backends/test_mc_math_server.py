"""``mc --world math`` through a real OpenAI-compatible server (vLLM, CPU): rollouts sampled by
the server, answers checked against the reference with math-verify."""

from __future__ import annotations

from pathlib import Path

from _cli import run_cli as run

from stepsieve.formats import get_format, read_trajectories
from stepsieve.trajectory import Step, Trajectory


def test_mc_on_free_form_math_samples_through_the_server(vllm_server, tmp_path: Path, capsys) -> None:
    items = [
        Trajectory(
            "m1", "What is 2+3?", [Step(0, "2+3 = 5"), Step(1, "The answer is \\boxed{5}.")], reference="5"
        ),
        Trajectory("m2", "What is 3*4?", [Step(0, "3*4 = 12"), Step(1, "So \\boxed{12}.")], reference="12"),
        Trajectory("m3", "What is 3*4?", [Step(0, "3*4 = 13"), Step(1, "So \\boxed{13}.")], reference="12"),
    ]
    get_format("stepsieve").write(items, tmp_path / "in.jsonl")
    code, _, err = run(
        [
            "grade",
            tmp_path / "in.jsonl",
            tmp_path / "mc.jsonl",
            "--grader",
            "mc",
            "--world",
            "math",
            "--n",
            "2",
            "--max-tokens",
            "16",
            "--backend",
            "openai",
            "--base-url",
            vllm_server.base_url,
            "--model",
            vllm_server.served_name,
            "--concurrency",
            "1",
            "--no-cache",
        ],
        capsys,
    )
    assert code == 0, err
    got = list(read_trajectories(tmp_path / "mc.jsonl"))
    assert [t.id for t in got] == ["m1", "m2", "m3"]
    for t in got:
        first, last = t.steps[0].labels["mc"], t.steps[-1].labels["mc"]
        # a prefix short of the answer: 2 rollouts sampled by the server, each checked
        assert first.extra["n"] == 2 and first.score == first.extra["n_correct"] / 2
        assert first.cost.calls == 2
        # the step that states the answer is checked itself, against the reference (math-verify)
        assert last.extra["n"] == 1
    assert [t.steps[-1].labels["mc"].score for t in got] == [1.0, 1.0, 0.0]
