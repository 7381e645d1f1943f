"""The parts layout of a sharded job, without Ray: plan, resume, merge, a merge cut short."""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

from stepsieve import ConfigError
from stepsieve.engine import parts_dir, run_grading
from stepsieve.engine._job import JobStats, grade_into, open_input, pending_records
from stepsieve.engine._parts import prepare_parts
from stepsieve.graders import config_hash

sys.path.insert(0, str(Path(__file__).parent))
from _slow_job import SlowGrader
from test_resume import lines, make_input

G = SlowGrader(0.0)
H = config_hash(G.name, G.config)


def _grade_parts(src: Path, out: Path, shard_size: int = 4, batch_size: int = 2) -> int:
    """What the Ray engine's workers do, in this process: every shard into its part."""
    parts, done, _ = prepare_parts(out, G.name, H, shard_size=shard_size, batch_size=batch_size, limit=None)
    reader, _ = open_input(src, "stepsieve", "raise", out)
    pending = list(pending_records(reader, done, JobStats(), None))
    shards = [pending[i:i + shard_size] for i in range(0, len(pending), shard_size)]
    for k, shard in enumerate(shards):
        grade_into(G, shard, parts.part(k), JobStats(), batch_size=batch_size)
    return len(shards)


def test_merged_parts_equal_a_local_run(tmp_path):
    src, ref, out = tmp_path / "in.jsonl", tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    make_input(src, 11)
    run_grading(G, src, ref, batch_size=2)
    n = _grade_parts(src, out)
    parts, _, _ = prepare_parts(out, G.name, H, shard_size=4, batch_size=2, limit=None)
    assert parts.written() == 11
    parts.merge(n)
    assert lines(out) == lines(ref) and not parts_dir(out).exists()


def test_a_merge_cut_short_is_undone_then_redone(tmp_path):
    src, ref, out = tmp_path / "in.jsonl", tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    make_input(src, 12)
    run_grading(G, src, ref, batch_size=2)
    run_grading(G, src, out, batch_size=2, limit=3)  # a local run got this far first
    base = out.stat().st_size
    n = _grade_parts(src, out)
    parts, _, _ = prepare_parts(out, G.name, H, shard_size=4, batch_size=2, limit=None)
    with open(out, "ab") as fh:  # the merge was killed 50 bytes into the first part
        fh.write(parts.part(0).read_bytes()[:50])
    parts, done, note = prepare_parts(out, G.name, H, shard_size=8, batch_size=2, limit=None)
    assert out.stat().st_size == base and sum(done.values()) == 3
    assert note is not None and "shard size 4" in note  # the boundaries stay where they were
    parts.merge(n)
    assert lines(out) == lines(ref)


def test_merged_marker_means_only_the_clean_up_was_cut(tmp_path):
    src, ref, out = tmp_path / "in.jsonl", tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    make_input(src, 5)
    run_grading(G, src, ref, batch_size=2)
    out.write_bytes(ref.read_bytes())
    parts_dir(out).mkdir()
    (parts_dir(out) / "part-000000.jsonl").write_bytes(ref.read_bytes())
    (parts_dir(out) / "merged").write_bytes(b"")
    _, done, _ = prepare_parts(out, G.name, H, shard_size=4, batch_size=2, limit=None)
    assert sum(done.values()) == 5 and lines(out) == lines(ref)
    assert not (parts_dir(out) / "part-000000.jsonl").exists()


def test_parts_of_another_configuration_or_limit_are_refused(tmp_path):
    out = tmp_path / "out.jsonl"
    prepare_parts(out, G.name, H, shard_size=4, batch_size=2, limit=None)
    with pytest.raises(ConfigError, match="hash 0000"):
        prepare_parts(out, G.name, "0000", shard_size=4, batch_size=2, limit=None)
    with pytest.raises(ConfigError, match="--limit"):
        prepare_parts(out, G.name, H, shard_size=4, batch_size=2, limit=7)
    plan = orjson.loads((parts_dir(out) / "plan.json").read_bytes())
    assert plan["hash"] == H and plan["base"] == 0


def test_dropped_lists_of_the_parts_are_merged_in_order(tmp_path):
    from test_resume import DropOdd

    from stepsieve.engine import dropped_path

    g = DropOdd(0.0)
    h = config_hash(g.name, g.config)
    src, ref, out = tmp_path / "in.jsonl", tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    make_input(src, 10)
    run_grading(g, src, ref, batch_size=2)
    parts, done, _ = prepare_parts(out, g.name, h, shard_size=4, batch_size=2, limit=None)
    reader, _ = open_input(src, "stepsieve", "raise", out)
    pending = list(pending_records(reader, done, JobStats(), None))
    shards = [pending[i:i + 4] for i in range(0, len(pending), 4)]
    for k, shard in enumerate(shards):
        grade_into(g, shard, parts.part(k), JobStats(), batch_size=2)
    parts.merge(len(shards))
    assert lines(out) == lines(ref)
    assert lines(dropped_path(out)) == lines(dropped_path(ref))
