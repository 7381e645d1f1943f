"""The Grader protocol and the grader registry.

A grader takes Trajectory records and returns them with ``step.labels[name]`` filled in.
Graders are built by factories registered by name; the factory's arguments form the
grader's configuration, whose hash is stamped into every label it writes
(``Label.grader = GraderRef(name, config_hash)``), so any label can say exactly which
grader, with which options, produced it, and resumable jobs can key on it.

``GRADERS`` lists the built-in graders and those installed distributions register through
the ``stepsieve.graders`` entry-point group; ``_plugin`` builds one from typed options.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from stepsieve._registry import Registry
from stepsieve.trajectory import GraderRef, Trajectory

__all__ = ["GRADERS", "Grader", "config_hash", "grader_ref"]


@runtime_checkable
class Grader(Protocol):
    """Grades steps. ``name`` is the label name it writes; ``config`` its resolved options."""

    name: str
    config: Mapping[str, Any]

    def grade(self, trajectories: Iterable[Trajectory]) -> Iterator[Trajectory]:
        """Yield each trajectory with ``labels[self.name]`` set on its steps (lazy, streaming)."""
        ...


def config_hash(name: str, config: Mapping[str, Any]) -> str:
    """A short stable hash of a grader's name and configuration (sorted JSON, sha256)."""
    blob = orjson.dumps({"name": name, "config": dict(config)}, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(blob).hexdigest()[:12]


def grader_ref(name: str, config: Mapping[str, Any]) -> GraderRef:
    """The GraderRef stamped into every label a grader with this configuration writes."""
    return GraderRef(name, config_hash(name, config))


GRADERS: Registry[Any] = Registry("grader", group="stepsieve.graders")
