"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a real OpenAI-compatible server.

Each request takes the next action from ``script`` (then ``default``), or the action of the
first ``match`` substring found in its prompt (a fault that stays until cleared):

- ``"pass"``: forwarded upstream, the answer returned as is;
- an HTTP status (429 with ``Retry-After``, 500, 503): answered by the proxy;
- ``"slow"``: held ``slow_s`` seconds (past the client's timeout), then forwarded;
- ``"reset"``: forwarded, then half the body is sent and the connection reset (RST);
- ``"truncated"``: forwarded, half the body sent as a complete 200 answer;
- ``"malformed"``: a 200 answer that is not JSON;
- ``"down"``: the connection is dropped unanswered and the proxy stops listening for
  ``down_s`` seconds (a server that dies and is restarted on the same port);
- ``"die"``: the same, and it stays down until :meth:`start` is called.

While down, requests on connections that were already open are reset unanswered.

Everything is bounded: waits are short and the proxy is always shut down by its fixture.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from stepsieve.backends._server import free_port


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.script: list[Any] = []
        self.default: Any = "pass"
        self.match: dict[str, Any] = {}
        self.retry_after = "0.2"
        self.slow_s = 2.5
        self.down_s = 1.0
        self.applied: list[Any] = []  # the action each request got, in order
        self.forwarded = 0  # requests that reached the upstream server
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=300)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._httpd: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def go_down(self) -> None:
        """Stop listening (connections are refused) until :meth:`start` is called again."""
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.socket.close()
            threading.Thread(target=httpd.shutdown, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self.go_down()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- requests -------------------------------------------------------------------------

    def _action(self, body: dict[str, Any]) -> Any:
        prompt = str(body.get("prompt", body.get("messages", "")))
        with self._lock:
            action = next((a for key, a in self.match.items() if key in prompt), None)
            if action is None:
                action = self.script.pop(0) if self.script else self.default
            self.applied.append(action)
        return action

    def _forward(self, path: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        with self._lock:
            self.forwarded += 1
        return self._client.post(self.upstream + path, content=raw, headers=keep)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def finish(self) -> None:
                with contextlib.suppress(OSError):  # the connection was reset on purpose
                    super().finish()

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                if proxy._httpd is None:  # down: a kept-alive connection dies with the server
                    return self._reset()
                action = proxy._action(json.loads(raw or b"{}"))
                path = self.path.removeprefix("/v1") if self.path.startswith("/v1") else self.path
                path = "/v1" + path
                if isinstance(action, int):
                    extra = {"Retry-After": proxy.retry_after} if action == 429 else {}
                    return self._send(action, json.dumps({"error": {"message": f"injected {action}"}}).encode(),
                                      extra)
                if action == "malformed":
                    return self._send(200, b"<html>502 Bad Gateway (proxy)</html>")
                if action in ("down", "die"):
                    proxy.go_down()
                    if action == "down":
                        back = threading.Timer(proxy.down_s, lambda: proxy._stopped.is_set() or proxy.start())
                        back.daemon = True
                        back.start()
                    return self._reset()
                if action == "slow":
                    proxy._stopped.wait(proxy.slow_s)
                resp = proxy._forward(path, raw, dict(self.headers))
                if action == "truncated":
                    return self._send(resp.status_code, resp.content[: len(resp.content) // 2])
                if action == "reset":
                    self.send_response(resp.status_code)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(resp.content)))
                    self.end_headers()
                    self.wfile.write(resp.content[: len(resp.content) // 2])
                    self.wfile.flush()
                    return self._reset()
                return self._send(resp.status_code, resp.content)

            def _send(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                """Close with RST (SO_LINGER 0): the client sees a connection reset."""
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                except OSError:
                    pass

        return Handler


def wait_until(cond: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False
