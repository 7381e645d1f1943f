"""Running jobs: resumable, append-only grading keyed by trajectory id + grader config hash.

``run_grading`` runs in this process; ``run_grading_ray`` spreads the same job over a Ray
cluster (the optional ``ray`` extra). Ray is imported only when the latter is asked for, so
the local engine and ``import stepsieve.engine`` never load it.
"""

from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.engine._job import JobStats, run_grading
from stepsieve.engine._parts import parts_dir
from stepsieve.engine._resume import dropped_path, scan_done

__all__ = [
    "JobStats",
    "RayOptions",
    "dropped_path",
    "parts_dir",
    "run_grading",
    "run_grading_ray",
    "run_sampling_ray",
    "scan_done",
]

_LAZY = {"RayOptions": "_ray", "run_grading_ray": "_ray", "run_sampling_ray": "_ray_sample"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'stepsieve.engine' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(f"stepsieve.engine.{_LAZY[name]}")
    except ModuleNotFoundError as e:
        if e.name != "ray":
            raise
        raise ConfigError("the Ray engine needs Ray: pip install 'stepsieve[ray]'") from None
    return getattr(module, name)
