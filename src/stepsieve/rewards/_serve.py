"""``serve-prm``: step rewards over HTTP in the shapes RL trainers already speak.

Routes (JSON in and out):

* ``POST /get_reward`` (and ``POST /``): OpenRLHF's remote reward model (``--remote_rm_url``).
  Request ``{"query": [prompt+response, ...], "prompts": [...], "labels": [...]}``; response
  ``{"rewards": [...], "scores": [...], "extra_logs": {...}, "step_scores": [[...], ...]}``, one
  reward per query: the step scores aggregated (``min`` by default).
* ``POST /pooling`` and ``POST /v1/pooling``: vLLM's pooling API. ``{"model": ..., "input": str |
  [str]}`` (prompt and response in one text, laid out as the model's template) or ``{"messages":
  [...]}`` (the assistant message is the response); response ``{"id", "object": "list", "created",
  "model", "data": [{"index", "object": "pooling", "data": [[1-p, p], ...]}], "usage"}``, one row a
  step, as a two-class step PRM served by vLLM returns (Qwen2.5-Math-PRM: ``row[1]`` = P(correct)).
* ``GET /health``, ``GET /v1/models``.

Request threads come from a bounded pool; they put work on a bounded queue (full: 503 with
``Retry-After``) and one scoring thread takes whatever is waiting, up to ``max_batch``
trajectories, and scores it in one batched call (one forward pass per trajectory); a request
not answered within ``timeout`` seconds gets 504. Bound to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.prm._load import LoadedScorer, split_query, task_from_prompt, text_to_trajectory
from stepsieve.search import AGGREGATIONS, aggregate
from stepsieve.trajectory import Trajectory

__all__ = ["PRMServer", "ServeOptions"]


@dataclass(frozen=True)
class ServeOptions:
    """How the server batches, bounds and times out work."""

    host: str = "127.0.0.1"
    port: int = 8765  # 0: any free port (see PRMServer.port)
    aggregate: str = "min"  # step scores -> one reward per query: min, prod, last, mean
    max_batch: int = 64  # trajectories per scoring call
    batch_wait: float = 0.005  # seconds the scorer waits for more work before a batch is closed
    max_queue: int = 256  # requests waiting to be scored; beyond this, 503
    timeout: float = 60.0  # seconds a request waits for its scores; beyond this, 504
    threads: int = 32  # request-handling threads
    max_body: int = 16 << 20  # bytes
    separator: str | None = None  # step separator of responses (default: the model's)

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATIONS:
            raise ConfigError(f"aggregate must be one of {', '.join(AGGREGATIONS)}, got {self.aggregate!r}")
        if min(self.max_batch, self.max_queue, self.threads) < 1 or self.timeout <= 0:
            raise ConfigError("max_batch, max_queue and threads must be >= 1 and timeout > 0")


class _BadRequest(Exception):
    pass


@dataclass
class _Work:
    trajectories: list[Trajectory]
    future: Future = field(default_factory=Future)


class PRMServer:
    """An HTTP step-reward server over a :class:`LoadedScorer`; ``start()`` / ``stop()`` or ``with``."""

    def __init__(
        self, loaded: LoadedScorer, options: ServeOptions | None = None, *, name: str | None = None
    ) -> None:
        self.loaded = loaded
        self.options = options or ServeOptions()
        self.name = name or loaded.path
        self.separator = self.options.separator or loaded.separator
        tok = getattr(getattr(loaded.scorer, "model", None), "tokenizer", None)
        self._specials = tuple(
            s
            for s in (
                getattr(tok, "bos_token", None),
                getattr(tok, "eos_token", None),
                getattr(tok, "pad_token", None),
            )
            if s
        )
        self._queue: queue.Queue[_Work] = queue.Queue(maxsize=self.options.max_queue)
        self._stop = threading.Event()
        self.stats = {"requests": 0, "trajectories": 0, "batches": 0, "rejected": 0, "timeouts": 0}
        self._lock = threading.Lock()
        self._httpd = _PooledHTTPServer(
            (self.options.host, self.options.port), _handler(self), self.options.threads
        )
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.options.host}:{self.port}"

    def start(self) -> PRMServer:
        for target in (self._score_loop, self._httpd.serve_forever):
            t = threading.Thread(target=target, daemon=True, name=f"serve-prm-{target.__name__}")
            t.start()
            self._threads.append(t)
        return self

    def serve_forever(self) -> None:
        threading.Thread(target=self._score_loop, daemon=True).start()
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> PRMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- scoring ----------------------------------------------------------------------

    def score(self, trajectories: list[Trajectory]) -> list[list[float]]:
        """Queue trajectories for the scoring thread and wait (bounded) for their step scores."""
        work = _Work(trajectories)
        try:
            self._queue.put_nowait(work)
        except queue.Full:
            with self._lock:
                self.stats["rejected"] += 1
            raise
        try:
            return work.future.result(timeout=self.options.timeout)
        except FutureTimeout:
            with self._lock:
                self.stats["timeouts"] += 1
            work.future.cancel()
            raise

    def _score_loop(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch, size = [first], len(first.trajectories)
            deadline = time.perf_counter() + self.options.batch_wait
            while size < self.options.max_batch:
                try:
                    w = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                batch.append(w)
                size += len(w.trajectories)
            batch = [w for w in batch if w.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                flat = [t for w in batch for t in w.trajectories if t.steps]
                scores = iter(self.loaded.scorer.score_steps(flat) if flat else [])
                for w in batch:
                    w.future.set_result([next(scores) if t.steps else [] for t in w.trajectories])
            except Exception as e:  # noqa: BLE001 - the error goes to every waiting request, the loop lives on
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(e)
            with self._lock:
                self.stats["batches"] += 1
                self.stats["trajectories"] += size

    # ---- request shapes -----------------------------------------------------------------

    def _trajectory(self, task: Any, response: str, tid: str) -> Trajectory:
        return text_to_trajectory(task, response, self.separator, tid=tid, specials=self._specials)

    def openrlhf(self, body: dict[str, Any]) -> dict[str, Any]:
        queries = body.get("query")
        if isinstance(queries, str):
            queries = [queries]
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise _BadRequest('"query" must be a list of strings (prompt + response)')
        prompts = body.get("prompts") or [None] * len(queries)
        if not isinstance(prompts, list) or len(prompts) != len(queries):
            raise _BadRequest('"prompts" must be a list as long as "query"')
        trajs = []
        for i, (q, p) in enumerate(zip(queries, prompts, strict=True)):
            q = _strip_lead(q, self._specials)
            if isinstance(p, str) and p and p in q:
                task, response = task_from_prompt(p, self.loaded.template), q[q.index(p) + len(p) :]
            else:
                split = split_query(q, self.loaded.template)
                if split is None:
                    raise _BadRequest(
                        f"query {i}: no prompt given and it does not follow the model's template "
                        f"{self.loaded.template!r}"
                    )
                task, response = split
            trajs.append(self._trajectory(task, response, f"q{i}"))
        scores = self.score(trajs)
        rewards = [aggregate(s, self.options.aggregate) for s in scores]
        return {
            "rewards": rewards,
            "scores": rewards,
            "step_scores": scores,
            "extra_logs": {
                "prm_steps": [float(len(s)) for s in scores],
                "prm_last": [aggregate(s, "last") for s in scores],
            },
        }

    def pooling(self, body: dict[str, Any]) -> dict[str, Any]:
        if "messages" in body:
            trajs = [self._from_messages(body["messages"])]
        else:
            inputs = body.get("input")
            if isinstance(inputs, str):
                inputs = [inputs]
            if not isinstance(inputs, list) or not inputs or not all(isinstance(x, str) for x in inputs):
                raise _BadRequest(
                    '"input" must be a string or a list of strings (token ids are not accepted)'
                )
            trajs = []
            for i, text in enumerate(inputs):
                split = split_query(_strip_lead(text, self._specials), self.loaded.template)
                if split is None:
                    raise _BadRequest(
                        f"input {i} does not follow the model's template {self.loaded.template!r}; "
                        'send "messages" instead'
                    )
                trajs.append(self._trajectory(split[0], split[1], f"i{i}"))
        scores = self.score(trajs)
        tokens = sum(
            len(t.task if isinstance(t.task, str) else "") + sum(len(s.text) for s in t.steps) for t in trajs
        )  # characters: the server does not re-tokenize to count
        return {
            "id": f"pool-{uuid.uuid4().hex}",
            "object": "list",
            "created": int(time.time()),
            "model": self.name,
            "data": [
                {"index": i, "object": "pooling", "data": [[1.0 - p, p] for p in s]}
                for i, s in enumerate(scores)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0},
        }

    def _from_messages(self, messages: Any) -> Trajectory:
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise _BadRequest('"messages" must be a non-empty list of {"role", "content"} objects')
        if messages[-1].get("role") != "assistant":
            raise _BadRequest("the last message must be the assistant's response (its steps are scored)")
        context = [{"role": m.get("role", "user"), "content": _content(m)} for m in messages[:-1]]
        task: Any = context[0]["content"] if len(context) == 1 else context
        if isinstance(task, str):
            task = task_from_prompt(task, self.loaded.template)
        return self._trajectory(task, _content(messages[-1]), "m0")


def _content(message: dict[str, Any]) -> str:
    c = message.get("content") or ""
    if isinstance(c, list):  # OpenAI content parts
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return str(c)


def _strip_lead(text: str, specials: Sequence[str]) -> str:
    for s in specials:
        while s and text.startswith(s):
            text = text[len(s) :]
    return text


class _PooledHTTPServer(HTTPServer):
    """``HTTPServer`` whose requests run on a bounded thread pool (not a thread per request)."""

    # The listen backlog: socketserver's default of 5 overflows when dozens of clients connect at
    # once while the scoring thread holds the GIL, and Linux then resets the extra connections.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], handler: type, threads: int) -> None:
        super().__init__(address, handler)
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="serve-prm-http")

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._run, request, client_address)

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - socketserver's contract: report and keep serving
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def _handler(server: PRMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per request is noise
            pass

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
            # vLLM's error body shape; OpenRLHF only reads the status.
            self._send(
                status, {"error": {"message": message, "type": status.phrase, "code": int(status)}}, headers
            )

        def do_GET(self) -> None:
            if self.path in ("/health", "/v1/health"):
                self._send(
                    200,
                    {
                        "status": "ok",
                        "model": server.name,
                        "kind": server.loaded.kind,
                        "queue": server._queue.qsize(),
                        **server.stats,
                    },
                )
            elif self.path == "/v1/models":
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": server.name, "object": "model", "owned_by": "stepsieve"}],
                    },
                )
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}")

        def do_POST(self) -> None:
            routes = {
                "/get_reward": server.openrlhf,
                "/": server.openrlhf,
                "/pooling": server.pooling,
                "/v1/pooling": server.pooling,
            }
            fn = routes.get(self.path.split("?")[0])
            if fn is None:
                self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > server.options.max_body:
                self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {server.options.max_body} bytes")
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise _BadRequest("the body must be a JSON object")
                with server._lock:
                    server.stats["requests"] += 1
                self._send(200, fn(body))
            except (json.JSONDecodeError, _BadRequest) as e:
                self._error(HTTPStatus.BAD_REQUEST, str(e))
            except queue.Full:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, "queue full", {"Retry-After": "1"})
            except FutureTimeout:
                self._error(HTTPStatus.GATEWAY_TIMEOUT, f"not scored within {server.options.timeout} s")
            except Exception as e:  # noqa: BLE001 - any scoring failure is this request's 500
                self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: {e}")

    return Handler
