"""Shared by the multimodal judge and augmentation tests: GUI records with real (Pillow)
screenshots in the media store, and a chat-completions server on a real socket that
records what a backend sends."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from stepsieve.backends.openai import OpenAIBackend
from stepsieve.formats import open_writer
from stepsieve.media import MediaStore
from stepsieve.trajectory import Action, Step, Trajectory


def screen(label: str, color: str, size=(1600, 1000)) -> bytes:
    im = Image.new("RGB", size, color)
    d = ImageDraw.Draw(im)
    d.rectangle([100, 100, 500, 220], outline="black", width=6)
    d.text((120, 140), label, fill="black")
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def write_gui_file(tmp_path: Path) -> Path:
    """Two GUI records (screenshots in the media store beside the file) and one text-only."""
    path = tmp_path / "gui.jsonl"
    store = MediaStore(path)
    home, cart, paid = (store.put(screen(x, c), role="after") for x, c in
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


def content_of(srv: ChatCapture, needle: str) -> Any:
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


def chat_backend(srv: ChatCapture) -> OpenAIBackend:
    return OpenAIBackend("vlm", base_url=srv.base_url, max_retries=0, progress=False)


