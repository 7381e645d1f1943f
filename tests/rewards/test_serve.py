"""serve-prm on 127.0.0.1 with real HTTP requests in OpenRLHF's and vLLM's shapes.

The rewards must equal what the in-process scorer gives for the same (task, steps), for the
embedded StepRM and for an implicit PRM.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stepsieve.prm import load_scorer
from stepsieve.rewards import PRMServer, ServeOptions
from stepsieve.search import aggregate
from stepsieve.trajectory import Step, Trajectory

PROMPT = "Problem: {task}\nSolution:\n"
ITEMS = [
    ("Tom has 12 apples and buys 5 more. How many now?", ["12 + 5 = 17", "Answer: 17"]),
    (
        "A box holds 30 pens; 4 are taken, then the rest doubles.",
        ["30 - 4 = 26", "26 * 2 = 53", "Answer: 53"],
    ),
    ("Start at 7, multiply by 3.", ["7 * 3 = 21", "Answer: 21"]),
]


def post(url: str, body: dict, timeout: float = 30) -> dict:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def in_process(loaded, items=ITEMS) -> list[list[float]]:
    trajs = [
        Trajectory(str(i), task, [Step(j, s) for j, s in enumerate(steps)])
        for i, (task, steps) in enumerate(items)
    ]
    return loaded.scorer.score_steps(trajs)


@pytest.fixture(scope="module", params=["steprm", "implicit"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    if request.param == "steprm":
        loaded = load_scorer(None, device="cpu")  # the embedded StepRM
    else:
        loaded = load_scorer(_implicit_checkpoint(tmp_path_factory.mktemp("imp")), device="cpu")
    with PRMServer(loaded, ServeOptions(port=0, max_batch=8)) as s:
        yield s


def _implicit_checkpoint(d: Path) -> Path:
    """The embedded policy against itself with its weights nudged: an implicit PRM with nonzero rewards."""
    import torch

    from stepsieve.prm import ImplicitConfig, ImplicitPRM
    from stepsieve.prm._implicit import resolve_reference

    base = resolve_reference("embedded:policy")
    model = ImplicitPRM.from_base(base, ImplicitConfig(beta=0.5))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.policy.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model.save(d / "m")


def test_bound_to_localhost_and_health(server):
    assert server.options.host == "127.0.0.1"
    with urllib.request.urlopen(server.url + "/health", timeout=10) as r:
        h = json.loads(r.read())
    assert h["status"] == "ok" and h["kind"] == server.loaded.kind
    with urllib.request.urlopen(server.url + "/v1/models", timeout=10) as r:
        assert json.loads(r.read())["data"][0]["id"] == server.name


def test_openrlhf_shape_equals_in_process(server):
    want = in_process(server.loaded)
    prompts = [PROMPT.replace("{task}", t) for t, _ in ITEMS]
    queries = [p + "\n".join(steps) for p, (_, steps) in zip(prompts, ITEMS, strict=True)]
    got = post(server.url + "/get_reward", {"query": queries, "prompts": prompts, "labels": ["", "", ""]})
    assert got["rewards"] == pytest.approx([aggregate(s, "min") for s in want], abs=1e-5)
    assert got["scores"] == got["rewards"]
    for a, b in zip(got["step_scores"], want, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    # What OpenRLHF's client sends: the decoded query may carry the tokenizer's bos/eos text.
    tok = server.loaded.scorer.model.tokenizer
    one = post(
        server.url + "/get_reward",
        {"query": [f"{tok.bos_token}{queries[1]}{tok.eos_token}"], "prompts": [prompts[1]], "labels": [None]},
    )
    assert one["rewards"] == pytest.approx([aggregate(want[1], "min")], abs=1e-5)
    # Without prompts, the query is split at the model's template.
    bare = post(server.url + "/get_reward", {"query": queries})
    assert bare["rewards"] == pytest.approx(got["rewards"], abs=1e-5)


def test_vllm_pooling_shapes_equal_in_process(server):
    want = in_process(server.loaded)
    texts = [PROMPT.replace("{task}", t) + "\n".join(steps) for t, steps in ITEMS]
    for route in ("/pooling", "/v1/pooling"):
        got = post(server.url + route, {"model": server.name, "input": texts})
        assert got["object"] == "list" and [d["index"] for d in got["data"]] == [0, 1, 2]
        for d, w in zip(got["data"], want, strict=True):
            assert d["object"] == "pooling"
            assert [row[1] for row in d["data"]] == pytest.approx(w, abs=1e-5)
            assert [row[0] + row[1] for row in d["data"]] == pytest.approx([1.0] * len(w))
        assert got["usage"]["total_tokens"] > 0
    task, steps = ITEMS[1]
    chat = post(
        server.url + "/pooling",
        {"messages": [{"role": "user", "content": task}, {"role": "assistant", "content": "\n".join(steps)}]},
    )
    assert [row[1] for row in chat["data"][0]["data"]] == pytest.approx(want[1], abs=1e-5)


def test_bad_requests_are_4xx(server):
    for route, body in (
        ("/get_reward", {"query": "x", "prompts": [1, 2]}),
        ("/pooling", {"input": [1, 2]}),
        ("/pooling", {"input": "no template here"}),
        ("/nowhere", {}),
    ):
        with pytest.raises(urllib.error.HTTPError) as e:
            post(server.url + route, body)
        assert e.value.code in (400, 404)
        assert "error" in json.loads(e.value.read())


def test_concurrent_requests_are_batched(server):
    want = in_process(server.loaded)
    prompts = [PROMPT.replace("{task}", t) for t, _ in ITEMS]
    queries = [p + "\n".join(steps) for p, (_, steps) in zip(prompts, ITEMS, strict=True)]
    results: dict[int, list[float]] = {}

    def call(i: int) -> None:
        k = i % 3
        results[i] = post(server.url + "/get_reward", {"query": [queries[k]], "prompts": [prompts[k]]})[
            "rewards"
        ]

    before = server.stats["batches"]
    threads = [threading.Thread(target=call, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in results.items():
        assert r == pytest.approx([aggregate(want[i % 3], "min")], abs=1e-5)
    assert len(results) == 64 and server.stats["batches"] - before < 64


def test_queue_bound_and_timeout():
    """A scorer that blocks: a second request waits in the queue, a third is refused with 503, the
    waiting ones time out with 504."""
    gate = threading.Event()

    class Slow:
        def score_steps(self, trajs):
            gate.wait(10)
            return [[0.5] * len(t.steps) for t in trajs]

    from stepsieve.prm import LoadedScorer

    loaded = LoadedScorer(Slow(), "steprm", "slow", PROMPT, "\n")
    body = {"query": ["Problem: x\nSolution:\n1 + 1 = 2"]}
    codes: list[int] = []

    def call() -> None:
        try:
            post(s.url + "/get_reward", body)
            codes.append(200)
        except urllib.error.HTTPError as e:
            codes.append(e.code)

    with PRMServer(loaded, ServeOptions(port=0, max_queue=1, max_batch=1, timeout=1.0, batch_wait=0.0)) as s:
        first = threading.Thread(target=call)
        first.start()
        import time

        time.sleep(0.3)  # the first is now being scored (blocked)
        others = [threading.Thread(target=call) for _ in range(2)]
        for t in others:
            t.start()
        for t in [first, *others]:
            t.join()
        gate.set()
    assert 503 in codes and 504 in codes
