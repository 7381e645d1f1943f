"""The per-action (multimodal) judge: screenshots as image_url parts over real HTTP, the
WebSTAR rubric parsed strictly, per-item costs, context overflow, dry runs, and the embedded
verifier refusing worlds it was not trained for.

The wire format is checked twice: against a capturing chat server on a real socket (what
OpenAIBackend sends), and against vLLM's own request model (``ChatCompletionRequest``, in
``.venv-vllm``, through a subprocess). The judge through the real vLLM server is in
tests/backends/test_judge_server.py.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from stepsieve import ConfigError, ContextOverflow
from stepsieve.backends._dryrun import DryRunBackend
from stepsieve.backends._protocol import Generation
from stepsieve.formats import open_writer, read_trajectories
from stepsieve.graders import GradeContext, build_grader
from stepsieve.graders.judge import JudgeGrader, parse_action_verdict
from stepsieve.trajectory import Cost, Step, Trajectory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _multimodal import ChatCapture, chat_backend, content_of, write_gui_file

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gui_file(tmp_path: Path) -> Path:
    return write_gui_file(tmp_path)


def test_action_verdict_parser_is_strict():
    assert parse_action_verdict("looks fine\nVerdict: correct\nKind: none") == (True, None)
    assert parse_action_verdict("Verdict: correct") == (True, None)
    assert parse_action_verdict("**Verdict:** incorrect\n**Kind:** wrong_target") == (False, "wrong_target")
    assert parse_action_verdict("Verdict: incorrect\nKind: wrong target") == (False, "wrong_target")
    assert parse_action_verdict("Verdict: incorrect") is None  # an incorrect verdict needs its kind
    assert parse_action_verdict("Verdict: incorrect\nKind: bad vibes") is None
    assert parse_action_verdict("Verdict: correct\nKind: harmful") is None  # contradicts itself
    assert parse_action_verdict("Verdict: maybe\nKind: none") is None
    assert parse_action_verdict("the action is correct") is None
    # the last verdict decides, with the kind after it
    assert parse_action_verdict("Verdict: correct\nKind: none\nOn reflection:\nVerdict: incorrect\nKind: harmful") == (
        False, "harmful")


def test_screenshots_go_as_downscaled_image_parts(gui_file: Path):
    srv = ChatCapture("It adds the mug.\nVerdict: correct\nKind: none",
                      {"[Action 1]": "Paying before checking the cart.\nVerdict: incorrect\nKind: premature"})
    try:
        g = build_grader("judge", {"mode": "per-action", "image_max_side": "512"},
                         GradeContext(backend=lambda: chat_backend(srv), default_model=False, source=gui_file))
        gui, text = list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    first = content_of(srv, "[Action 0]\nscreenshot")
    assert isinstance(first, list) and [p["type"] for p in first].count("image_url") == 1  # step 0: after only
    second = content_of(srv, "[Action 1]\nclick(300")
    kinds = [p["type"] for p in second]
    assert kinds.count("image_url") == 2 and kinds[0] == "text"
    # before (the home screen) comes before the action text, after (the cart) after it
    texts = "".join(p.get("text", "") for p in second)
    assert "click(300, 160)" in texts and '"x": 300' in texts and "Buy the blue mug" in texts
    imgs = [p["image_url"]["url"] for p in second if p["type"] == "image_url"]
    assert all(u.startswith("data:image/png;base64,") for u in imgs)
    sizes = [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))).size for u in imgs]
    assert sizes == [(512, 320), (512, 320)]  # 1600x1000 downscaled, aspect kept
    colors = [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))).convert("RGB").getpixel((5, 5))
              for u in imgs]
    assert colors == [(255, 255, 255), (173, 216, 230)]  # before = home (white), after = cart (light blue)
    labs = [s.labels["judge"] for s in gui.steps]
    assert [lab.verdict for lab in labs] == ["correct", "incorrect", "correct"]
    assert labs[1].extra["kind"] == "premature" and labs[1].extra["images"] == 2 and labs[0].extra["images"] == 1
    # each label's cost is its own prompt's tokens, as the server counted them
    assert labs[1].cost.tokens_in == len(texts) + 200 != labs[0].cost.tokens_in
    assert labs[1].cost.calls == 1 and labs[1].cost.tokens_out == 7
    # text-only agent: the same rubric, content is a plain string, notes instead of images
    body = content_of(srv, "[Action 0]\ncalculator 2 + 3")
    assert isinstance(body, str) and "(no screenshot)" in body and "calculator 2 + 3" in body
    assert text.steps[0].labels["judge"].extra["images"] == 0
    assert g.counts["images"] == 5 and g.counts["too_long"] == 0


def test_image_cap_and_text_only_backends(gui_file: Path):
    srv = ChatCapture("Verdict: correct\nKind: none")
    try:
        g = JudgeGrader(chat_backend(srv), mode="per-action", images=1, source=gui_file)
        list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    parts = content_of(srv, "[Action 1]\nclick(300")
    assert [p["type"] for p in parts].count("image_url") == 1  # capped: the screen before is kept
    assert "(screenshot not shown)" in "".join(p.get("text", "") for p in parts)
    assert g.counts["images_left_out"] == 2  # steps 1 and 2 each had before and after

    class TextOnly:
        name, model, cost = "transformers", "tiny", Cost()

        def generate(self, prompts, **kw):
            self.prompts = prompts
            return [[Generation("Verdict: correct\nKind: none", 3, prompt_tokens=len(p))] for p in prompts]

    with pytest.raises(ConfigError, match="images=0"):
        list(JudgeGrader(TextOnly(), mode="per-action", source=gui_file).grade(read_trajectories(gui_file)))
    be = TextOnly()
    out = list(JudgeGrader(be, mode="per-action", images=0, source=gui_file).grade(read_trajectories(gui_file)))
    assert "(screenshot not shown)" in be.prompts[1] and "[Action 1]" in be.prompts[1]
    assert out[0].steps[1].labels["judge"].verdict == "correct"


def test_prompt_over_the_context_is_an_error_or_a_counted_skip(gui_file: Path):
    srv = ChatCapture("Verdict: correct\nKind: none", too_long_over=1200)
    try:
        with pytest.raises(ContextOverflow, match=r"trajectory 'g1' step \d.*too_long=skip"):
            list(JudgeGrader(chat_backend(srv), mode="per-action", source=gui_file).grade(read_trajectories(gui_file)))
        sent_before = len(srv.bodies)
        g = JudgeGrader(chat_backend(srv), mode="per-action", too_long="skip", source=gui_file)
        gui, text = list(g.grade(read_trajectories(gui_file)))
        sent = len(srv.bodies) - sent_before
    finally:
        srv.close()
    skipped = [s.labels["judge"] for s in gui.steps if s.labels["judge"].extra.get("too_long")]
    assert skipped and all(lab.verdict is None and "context" in lab.rationale for lab in skipped)
    assert g.counts["too_long"] == len(skipped) == 2
    # 5 prompts sent at once, then only the second overflowing one again: the judgements that
    # finished beside the first overflow come from the error's partial results, not re-sent
    assert sent == 6
    assert all(s.labels["judge"].verdict == "correct" for s in text.steps)  # the short ones were judged


def test_dry_run_counts_images_and_sends_nothing(gui_file: Path):
    be = DryRunBackend("openai", "vlm", lambda ts: [len(t) for t in ts], False)
    g = JudgeGrader(be, mode="per-action", image_max_side=560, source=gui_file)
    out = list(g.grade(read_trajectories(gui_file)))
    s = be.summary()
    assert s["images"] == 5 and s["image_tokens_estimate"] == 5 * (20 * 13 + 2)  # 560x350 -> 20x13 merged patches
    assert s["calls"] == 5 and s["tokens_in"] > s["image_tokens_estimate"]
    assert all(st.labels["judge"].verdict is None for st in out[0].steps)  # dry-run replies parse to nothing


def test_embedded_verifier_refuses_other_worlds(gui_file: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="offline default for GUI is mc"):
        build_grader("judge", {}, GradeContext(source=gui_file))
    tc = tmp_path / "tc.jsonl"
    with open_writer(tc) as w:
        w.write(Trajectory("x1", "Add 2 and 3", [Step(0, "calculator 2 + 3", "action", "5")],
                           meta={"world": "toolcalc"}))
    with pytest.raises(ConfigError, match=r"world 'toolcalc'.*trained on arith"):
        build_grader("judge", {}, GradeContext(source=tc))


def test_requests_validate_against_vllm_request_model(gui_file: Path):
    """What OpenAIBackend sends for a multimodal judgement is a valid vLLM chat request, with
    the images where vLLM's chat parser looks for them."""
    python = REPO / ".venv-vllm" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"vLLM's venv is missing ({python}): run `bash scripts/setup_test_server.sh`", pytrace=False)
    srv = ChatCapture("Verdict: correct\nKind: none")
    try:
        g = JudgeGrader(chat_backend(srv), mode="per-action", votes=3, source=gui_file)
        list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    check = r"""
import json, sys
from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
out = []
for body in json.load(sys.stdin):
    req = ChatCompletionRequest.model_validate(body)
    content = req.messages[0]["content"]
    parts = content if isinstance(content, list) else []
    out.append([req.n, req.seed, req.max_tokens if req.max_tokens is not None else req.max_completion_tokens,
                [p["type"] for p in parts], [p["image_url"]["url"][:22] for p in parts if p["type"] == "image_url"]])
print(json.dumps(out))
"""
    res = subprocess.run([str(python), "-c", check], input=json.dumps(srv.bodies), capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    # 5 actions x 3 votes: seeded votes go as one request each (seed, seed+1, seed+2)
    assert len(got) == 15 and all(r[0] == 1 and r[2] == 1024 for r in got)
    assert sorted(r[1] for r in got) == [0] * 5 + [1] * 5 + [2] * 5
    assert sorted(r[3].count("image_url") for r in got) == [0] * 6 + [1] * 3 + [2] * 6
    assert all(r[4] == ["data:image/png;base64,"] * len(r[4]) for r in got)
    assert sum(r[3] == [] for r in got) == 6  # text-only steps: a plain string content


def test_cli_dry_run_counts_images_before_any_request(gui_file: Path, tmp_path: Path, capsys):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _cli import run_cli

    out = tmp_path / "judged.jsonl"
    code, stdout, err = run_cli(["grade", gui_file, out, "--grader", "judge", "--mode", "per-action",
                                 "--backend", "openai", "--model", "vlm", "--base-url", "http://127.0.0.1:9/v1",
                                 "-o", "image_max_side=560", "--dry-run"], capsys)
    assert code == 0, err
    assert not out.exists()  # nothing written, and port 9 was never asked (it would refuse)
    estimate = json.loads(err.split("dry run, nothing spent: ", 1)[1].splitlines()[0])
    assert estimate["calls"] == 5 and estimate["images"] == 5 and estimate["image_tokens_estimate"] == 5 * 262
    assert json.loads(stdout.strip().splitlines()[-1])["counts"]["images"] == 5


def test_records_of_the_gui_world(tmp_path: Path, capsys):
    """Real `gui` world records (screens rendered by the world, before/after each action):
    the embedded verifier points at mc; a chat VLM gets both screens of every action."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _cli import run_cli

    src = tmp_path / "gui.jsonl"
    code, _, err = run_cli(["sample", "--world", "gui", "--n", "2", "--out", src], capsys)
    assert code == 0, err
    with pytest.raises(ConfigError, match="offline default for GUI is mc"):
        build_grader("judge", {}, GradeContext(source=src))
    srv = ChatCapture("Verdict: correct\nKind: none")
    try:
        g = JudgeGrader(chat_backend(srv), mode="per-action", source=src)
        out = list(g.grade(read_trajectories(src)))
    finally:
        srv.close()
    actions = [s for t in out for s in t.steps if s.kind == "action"]
    assert actions and all(s.labels["judge"].verdict == "correct" for s in actions)
    assert all(s.labels["judge"].extra["images"] == 2 for s in actions)  # before and after, both sent
    assert g.counts["images"] == 2 * len(actions) == 2 * len(srv.bodies)
