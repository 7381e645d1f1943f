"""What a RUN_DIR holds, and reading it.

A run directory is written stage by stage by the pipeline (the demo, or a user's commands);
every file is optional, and the report shows a section for each that is present:

- ``graded.jsonl``  Trajectory records with the ``truth`` label and each grader's label
  (``stepsieve grade``); else ``samples.jsonl`` (``stepsieve sample``) for truth alone.
- ``eval.json``     ``{label: stepsieve.evaluate.evaluate(...) report}`` against truth
  (``stepsieve eval --json``, one entry per grader); computed from graded.jsonl when absent.
- ``search.json``   the output of ``stepsieve search`` (:func:`stepsieve.search.run_search`).
- ``steprm/``       a StepRM checkpoint (``stepsieve train-prm --out RUN_DIR/steprm``):
  its ``stepsieve_prm.json`` gives the training loss curve.
- ``summary.json``  ``{"stages": [{"name": str, "seconds": float, ...}, ...]}``: per-stage facts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepsieve._errors import DataError
from stepsieve.formats import read_trajectories
from stepsieve.trajectory import Trajectory

__all__ = ["STEPRM_CONFIGS", "RunData", "load_run"]

# The config files a StepRM directory may hold (prm: CONFIG_NAME, vision.VISION_CONFIG_NAME,
# VLM_CONFIG_NAME; named here so a report does not import torch; tests/report checks they agree).
STEPRM_CONFIGS = ("stepsieve_prm.json", "stepsieve_vision_prm.json", "stepsieve_vlm_prm.json")


@dataclass
class RunData:
    """Everything the report draws, gathered from a run directory."""

    root: Path
    first_errors: dict[str, list[int | None]] = field(default_factory=dict)  # label -> per trajectory
    steps: list[int] = field(default_factory=list)  # step counts
    outcome_accuracy: float | None = None
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    steprm: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    trajectories_file: str | None = None


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON: {e.msg}", path=str(path), line=e.lineno) from None


def _expect_keys(obj: Any, path: Path, keys: tuple[str, ...]) -> None:
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object", path=str(path), line=1)
    missing = [k for k in keys if k not in obj]
    if missing:
        raise DataError(f"missing key(s) {missing}", path=str(path), line=1)


def load_run(root: str | Path) -> RunData:
    """Read a run directory (see the module docstring); raises DataError on malformed files."""
    d = Path(root)
    if not d.is_dir():
        raise DataError("not a directory", path=str(d))
    run = RunData(d)
    trajs: list[Trajectory] = []
    for name in ("graded.jsonl", "samples.jsonl"):
        if (d / name).is_file():
            trajs = list(read_trajectories(d / name))
            run.trajectories_file = name
            break
    if trajs:
        labels: dict[str, None] = {}
        for t in trajs:
            for k in t.label_names():
                labels.setdefault(k, None)
        run.first_errors = {k: [t.first_error(k) for t in trajs] for k in labels}
        run.steps = [len(t.steps) for t in trajs]
        known = [t.outcome.correct for t in trajs if t.outcome.correct is not None]
        run.outcome_accuracy = sum(known) / len(known) if known else None
    if (d / "eval.json").is_file():
        evals = _json(d / "eval.json")
        if not isinstance(evals, dict):
            raise DataError("expected an object {label: evaluation report}", path=str(d / "eval.json"), line=1)
        for rep in evals.values():
            _expect_keys(rep, d / "eval.json", ("processbench", "cost"))
        run.evals = evals
    elif trajs and "truth" in run.first_errors:
        from stepsieve.evaluate import evaluate

        for label in run.first_errors:
            if label != "truth":
                run.evals[label] = evaluate(trajs, label, "truth")
    if (d / "search.json").is_file():
        run.search = _json(d / "search.json")
        _expect_keys(run.search, d / "search.json", ("curves",))
    for config in STEPRM_CONFIGS:  # the first StepRM config the run's steprm/ holds
        if (d / "steprm" / config).is_file():
            run.steprm = _json(d / "steprm" / config)
            break
    if (d / "summary.json").is_file():
        run.summary = _json(d / "summary.json")
        _expect_keys(run.summary, d / "summary.json", ("stages",))
    return run
