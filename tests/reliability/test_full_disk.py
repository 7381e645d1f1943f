"""A full disk while writing (issue 17): a clear error naming the output, no corrupt last
line, nothing that looks complete, and the job resumes (or re-runs) once space is freed.

The file system is made to refuse writes two ways: a file-size limit on the writing process
(RLIMIT_FSIZE: the kernel answers EFBIG past the cap; works unprivileged) and, where the test
may mount, a real 64 kB tmpfs that answers ENOSPC."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import CLI, normalized
from .test_kill_resume import _write_input


def _capped(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed by the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def _run(args: list, limit: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          preexec_fn=_capped(limit) if limit else None, check=False)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("disk")
    src = d / "in.jsonl"
    _write_input(src, 300)
    ref = d / "ref.jsonl"
    assert _run(["grade", src, ref, "--grader", "rules", "-q"]).returncode == 0
    return src, ref


def test_grading_on_a_full_disk_stops_with_whole_lines_and_resumes(graded, tmp_path):
    src, ref = graded
    want = ref.read_bytes()
    out = tmp_path / "out.jsonl"
    r = _run(["grade", src, out, "--grader", "rules", "-q", "--batch-size", "16"], limit=len(want) // 2)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{out}: cannot write (File too large)" in r.stderr and "re-run the same command to resume" in r.stderr
    part = out.read_bytes()
    assert 0 < len(part) <= len(want) // 2 and part.endswith(b"\n")
    # whole lines, the records of an uninterrupted run, in order (rules labels carry measured seconds)
    kept = normalized(out)
    assert kept == normalized(ref)[: len(kept)]
    r = _run(["grade", src, out, "--grader", "rules", "-q"])  # space freed
    assert r.returncode == 0, r.stderr
    assert normalized(out) == normalized(ref)


@pytest.mark.parametrize("verb", ["convert", "curate"])
def test_an_atomic_writer_on_a_full_disk_leaves_nothing_that_looks_complete(graded, tmp_path, verb):
    src, _ = graded
    out = tmp_path / "out.jsonl"
    args = ["convert", src, out, "--to", "openai-chat"] if verb == "convert" else \
        ["curate", src, "-o", out, "--label", "truth", "--mode", "mask"]
    r = _run(args, limit=4096)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{out}: cannot write (File too large)" in r.stderr and "nothing was written there" in r.stderr
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
    assert _run(args).returncode == 0 and out.stat().st_size > 4096


def test_a_real_full_tmpfs(graded, tmp_path):
    """ENOSPC from a real file system (needs the right to mount; CI containers as root have it)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here; the RLIMIT_FSIZE tests cover the same paths")
    try:
        src, ref = graded
        out = mnt / "out.jsonl"
        r = _run(["grade", src, out, "--grader", "rules", "-q"])
        assert r.returncode == 2 and "No space left on device" in r.stderr and "Traceback" not in r.stderr, r.stderr
        kept = normalized(out)
        assert out.read_bytes().endswith(b"\n") and len(kept) > 0 and kept == normalized(ref)[: len(kept)]
        big = tmp_path / "big"
        big.mkdir()
        shutil.copy(out, big / "out.jsonl")  # "space freed": carry on where it stopped, elsewhere
        assert _run(["grade", src, big / "out.jsonl", "--grader", "rules", "-q"]).returncode == 0
        assert normalized(big / "out.jsonl") == normalized(ref)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
