"""A small misbehaving OpenAI-compatible server on 127.0.0.1 (real sockets) for fault tests.

Each request takes the next action from a script: an HTTP status to answer with, ``"hang"``
(read the request and never answer), or ``"ok"`` (a well-formed completion). Once the script
is used up it answers ``default``. Per-prompt scripts let one prompt fail while others succeed.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FaultServer:
    def __init__(self) -> None:
        self.script: list[Any] = []
        self.per_prompt: dict[str, Any] = {}
        self.default: Any = "ok"
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.retry_after: str | None = None
        self.error_message: str | None = None  # the message of injected HTTP errors
        self.on_request = self.requests.append  # called with each request body (under the lock)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                with outer._lock:
                    outer.on_request(body)
                    outer.headers.append(dict(self.headers))
                    prompt = body.get("prompt")
                    if isinstance(prompt, str) and prompt in outer.per_prompt:
                        action = outer.per_prompt[prompt]
                    elif outer.script:
                        action = outer.script.pop(0)
                    else:
                        action = outer.default
                if action == "hang":
                    outer._stop.wait(30)
                    return
                if action == "ok":
                    n = int(body.get("n", 1))
                    text = f"echo:{body.get('prompt', '')[:20]}"
                    payload = {
                        "choices": [{"index": j, "text": f"{text}#{j}", "finish_reason": "stop"} for j in range(n)],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 3 * n},
                    }
                    self._send(200, payload)
                else:
                    headers = {"Retry-After": outer.retry_after} if outer.retry_after else {}
                    message = outer.error_message or f"injected {action}"
                    self._send(int(action), {"error": {"message": message}}, headers)

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def close_listener(self) -> None:
        """Stop accepting connections, as a server process that died (answers in flight finish)."""
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()
        self.httpd.socket.close()

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        time.sleep(0)
