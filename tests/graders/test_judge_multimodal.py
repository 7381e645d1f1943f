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
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from stepsieve import ConfigError, ContextOverflow
from stepsieve.backends._dryrun import DryRunBackend
from stepsieve.backends._protocol import Generation
from stepsieve.backends.openai import OpenAIBackend
from stepsieve.formats import open_writer, read_trajectories
from stepsieve.graders import GradeContext, build_grader
from stepsieve.graders.judge import JudgeGrader, parse_action_verdict
from stepsieve.media import MediaStore
from stepsieve.trajectory import Action, Cost, Step, Trajectory

REPO = Path(__file__).resolve().parents[2]


def _screen(label: str, color: str, size=(1600, 1000)) -> bytes:
    im = Image.new("RGB", size, color)
    d = ImageDraw.Draw(im)
    d.rectangle([100, 100, 500, 220], outline="black", width=6)
    d.text((120, 140), label, fill="black")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def gui_file(tmp_path: Path) -> Path:
    """Two GUI records (screenshots in the media store beside the file) and one text-only."""
    path = tmp_path / "gui.jsonl"
    store = MediaStore(path)
    home, cart, paid = (store.put(_screen(x, c), role="after") for x, c in
                        (("Home", "white"), ("Cart: 1 item", "lightblue"), ("Paid", "lightgreen")))
    t = Trajectory(
        "g1", "Buy the blue mug",
        [
            Step(0, "screenshot", "action", "home page", actions=[Action("screenshot")], images=[home]),
            Step(1, "click(300, 160) 'Add to cart'", "action", "cart shows 1 item",
                 actions=[Action("click", x=300, y=160, button="left")], images=[cart]),
            Step(2, "click(700, 400) 'Pay'", "action", "payment done",
                 actions=[Action("click", x=700, y=400, button="left")], images=[paid]),
        ],
        meta={"world": "gui"},
    )
    text = Trajectory("x1", "Add 2 and 3", [Step(0, "calculator 2 + 3", "action", "5"),
                                            Step(1, "answer 5", "action", "submitted")],
                      meta={"world": "toolcalc"})
    with open_writer(path) as w:
        w.write(t)
        w.write(text)
    return path


class ChatCapture:
    """A chat-completions server on a real socket: records every body, answers ``default`` or
    the reply of the first ``by_needle`` key found in the prompt text, and reports
    prompt_tokens = characters of the text parts + 100 per image (per-item costs differ)."""

    def __init__(self, default: str, by_needle: dict[str, str] | None = None, too_long_over: int | None = None):
        self.default, self.by_needle, self.too_long_over = default, by_needle or {}, too_long_over
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.bodies.append(body)
                content = body["messages"][0]["content"]
                parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
                images = sum(p["type"] == "image_url" for p in parts)
                tokens = sum(len(p.get("text", "")) for p in parts) + 100 * images
                if outer.too_long_over is not None and tokens > outer.too_long_over:
                    msg = {"error": {"message": f"This model's maximum context length is {outer.too_long_over} "
                                                f"tokens. However, you requested {tokens} tokens"}}
                    return self._send(400, msg)
                text = "".join(p.get("text", "") for p in parts)
                reply = next((r for k, r in outer.by_needle.items() if k in text), outer.default)
                n = body.get("n", 1)
                self._send(200, {
                    "choices": [{"index": j, "message": {"role": "assistant", "content": reply},
                                 "finish_reason": "stop"} for j in range(n)],
                    "usage": {"prompt_tokens": tokens, "completion_tokens": 7 * n},
                })

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _content(srv: ChatCapture, needle: str) -> Any:
    """The message content of the one request whose text holds ``needle`` (requests run
    concurrently: their order is not fixed)."""
    found = []
    for b in srv.bodies:
        c = b["messages"][0]["content"]
        text = c if isinstance(c, str) else "".join(p.get("text", "") for p in c)
        if needle in text:
            found.append(c)
    assert len(found) == 1, f"{len(found)} requests hold {needle!r}"
    return found[0]


def _backend(srv: ChatCapture) -> OpenAIBackend:
    return OpenAIBackend("vlm", base_url=srv.base_url, max_retries=0, progress=False)


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
                         GradeContext(backend=lambda: _backend(srv), default_model=False, source=gui_file))
        gui, text = list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    first = _content(srv, "[Action 0]\nscreenshot")
    assert isinstance(first, list) and [p["type"] for p in first].count("image_url") == 1  # step 0: after only
    second = _content(srv, "[Action 1]\nclick(300")
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
    body = _content(srv, "[Action 0]\ncalculator 2 + 3")
    assert isinstance(body, str) and "(no screenshot)" in body and "calculator 2 + 3" in body
    assert text.steps[0].labels["judge"].extra["images"] == 0
    assert g.counts["images"] == 5 and g.counts["too_long"] == 0


def test_image_cap_and_text_only_backends(gui_file: Path):
    srv = ChatCapture("Verdict: correct\nKind: none")
    try:
        g = JudgeGrader(_backend(srv), mode="per-action", images=1, source=gui_file)
        list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    parts = _content(srv, "[Action 1]\nclick(300")
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
            list(JudgeGrader(_backend(srv), mode="per-action", source=gui_file).grade(read_trajectories(gui_file)))
        g = JudgeGrader(_backend(srv), mode="per-action", too_long="skip", source=gui_file)
        gui, text = list(g.grade(read_trajectories(gui_file)))
    finally:
        srv.close()
    skipped = [s.labels["judge"] for s in gui.steps if s.labels["judge"].extra.get("too_long")]
    assert skipped and all(lab.verdict is None and "context" in lab.rationale for lab in skipped)
    assert g.counts["too_long"] == len(skipped)
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
        g = JudgeGrader(_backend(srv), mode="per-action", votes=3, source=gui_file)
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
    assert len(got) == 5 and all(r[0] == 3 and r[1] == 0 and r[2] == 1024 for r in got)
    assert got[1][3].count("image_url") == 2 and got[1][4] == ["data:image/png;base64,"] * 2
    assert got[3][3] == []  # text-only: a plain string content
