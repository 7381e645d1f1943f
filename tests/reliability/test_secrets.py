"""API keys (issue 17, security): read only from the environment or a key file, and found in
no output, manifest, cache, log line or error message — a planted key is grepped for in every
byte a job leaves behind, including a server error that echoes it back."""

from __future__ import annotations

import pytest
from _cli import run_cli
from backends._fault_server import FaultServer

from .conftest import arith_input

KEY = "sk-planted-0123456789abcdefABCDEF"


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def _everything(tmp_path, *streams: str) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()) + "".join(streams).encode()


@pytest.mark.parametrize("source", ["env", "file"])
def test_a_planted_key_reaches_the_server_and_nothing_else(source, server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "in.jsonl"
    arith_input(src, 3)
    key_args: list = []
    if source == "env":
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
    else:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        (tmp_path / "keys").mkdir()
        (tmp_path / "keys" / "key.txt").write_text(KEY + "\n")
        key_args = ["--api-key-file", tmp_path / "keys" / "key.txt"]
    args = ["--grader", "mc", "-o", "world=arith", "-o", "n=2", "-o", "max_tokens=8", "--backend", "openai",
            "--model", "m", "--base-url", server.base_url, "-q", *key_args]
    code, out, err = run_cli(["grade", src, tmp_path / "out.jsonl", *args], capsys)
    assert code == 0, err
    assert server.headers and all(h.get("Authorization") == f"Bearer {KEY}" for h in server.headers)
    # A server that fails and echoes the key back (as some do: "Incorrect API key provided: sk-...").
    server.default = 401
    server.error_message = f"Incorrect API key provided: {KEY}"
    code2, out2, err2 = run_cli(["grade", src, tmp_path / "out2.jsonl", *args, "-o", "seed=1"], capsys)
    assert code2 == 2 and "HTTP 401" in err2 and "***" in err2
    if source == "file":
        (tmp_path / "keys" / "key.txt").unlink()  # the key file itself is the user's
    leaked = _everything(tmp_path, out, err, out2, err2)
    assert (tmp_path / "out.jsonl.manifest.json").exists() and (tmp_path / "cache" / "requests.sqlite").exists()
    assert KEY.encode() not in leaked


def test_the_key_is_never_an_option_value(capsys):
    code, _, err = run_cli(["grade", "in.jsonl", "out.jsonl", "--grader", "mc", "--api-key", KEY], capsys)
    assert code != 0  # there is no --api-key: a key on the command line lands in shell history
    assert KEY not in err
