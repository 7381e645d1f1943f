"""Shared pieces of the reliability suite: small inputs, output comparison, the fault proxy."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ._fault_proxy import FaultProxy

# The console script's entry point, run in a child process (there is no ``python -m stepsieve``).
CLI = [sys.executable, "-c", "import sys; from stepsieve.cli import main; sys.argv[0] = 'stepsieve'; main()"]


def arith_input(path: Path, n: int = 8, *, seed: int = 5) -> list[str]:
    """``n`` arith trajectories, each with a wrong step and a wrong final answer (so the mc
    first-error search probes them); returns their ids."""
    from stepsieve.formats import write_trajectories
    from stepsieve.sampling._sample import to_trajectory
    from stepsieve.worlds import WORLDS

    world = WORLDS.get("arith")()
    out = []
    for i, task in enumerate(world.sample_tasks(n, seed, ops=(3, 4))):
        ref = world.reference(task)[:-1]
        k = i % len(ref)
        lhs, _, value = ref[k].rpartition("= ")
        steps = [*ref[:k], f"{lhs}= {int(value) + 1 + i % 3}", f"Answer: {int(task.answer) + 7}"]
        out.append(to_trajectory(world, task, steps, traj_id=f"a{i}", meta={}))
    write_trajectories(out, path)
    return [t.id for t in out]


def normalized(path: Path, *, server_hash: bool = True) -> list[bytes]:
    """Output lines with every label's measured wall time zeroed: the one field of a label
    that two runs cannot share (it is measured); everything else must match byte for byte.
    ``server_hash=False`` also blanks the graders' configuration hashes, which name the server
    URL the labels came from (a run through the fault proxy has another URL than the
    reference run straight to the server)."""
    lines = []
    for raw in path.read_bytes().splitlines():
        rec = orjson.loads(raw)
        for s in rec.get("steps", ()):
            for lab in (s.get("labels") or {}).values():
                if isinstance(lab.get("cost"), dict) and "seconds" in lab["cost"]:
                    lab["cost"]["seconds"] = 0.0
                if not server_hash and isinstance(lab.get("grader"), dict):
                    lab["grader"]["hash"] = ""
        lines.append(orjson.dumps(rec))
    return lines


def ids(path: Path) -> list[str]:
    return [orjson.loads(x)["id"] for x in path.read_bytes().splitlines()] if path.exists() else []


@pytest.fixture
def fault_proxy(vllm_server) -> Iterator[FaultProxy]:
    with FaultProxy(vllm_server.base_url.removesuffix("/v1")) as proxy:
        yield proxy


@pytest.fixture
def own_cache(tmp_path, monkeypatch) -> Path:
    """A request cache of this test's own (the CLI's default path reads the variable)."""
    monkeypatch.setenv("STEPSIEVE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"
