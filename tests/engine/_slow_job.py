"""A deterministic, slow fake grader run as a separate process, so a test can kill -9 it.

Usage: python _slow_job.py IN OUT DELAY
"""

from __future__ import annotations

import hashlib
import sys
import time

from stepsieve.engine import run_grading
from stepsieve.graders import grader_ref
from stepsieve.trajectory import Label


class SlowGrader:
    """Labels each step from a hash of its text; sleeps to make a kill land mid-run."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.config = {"rule": "sha-parity"}  # the delay is not part of what labels mean

    def grade(self, trajectories):
        ref = grader_ref(self.name, self.config)
        for t in trajectories:
            time.sleep(self.delay)
            for s in t.steps:
                h = hashlib.sha256(s.text.encode()).digest()[0]
                s.labels[self.name] = Label(score=h / 255, verdict="correct" if h % 2 else "incorrect", grader=ref)
            yield t


class LoggedSlowGrader(SlowGrader):
    """SlowGrader that appends ``PID ID`` to ``log`` for every record it grades, so a test
    can find a worker process mid-job and count records graded twice."""

    def __init__(self, delay: float, log: str) -> None:
        super().__init__(delay)
        self.log = log

    def grade(self, trajectories):
        import os

        for t in super().grade(trajectories):
            with open(self.log, "a") as fh:
                fh.write(f"{os.getpid()} {t.id}\n")
            yield t


class BudgetedGrader(SlowGrader):
    """SlowGrader whose every record is one model call charged to ``budget`` first (as a
    backend charges its Budget), so a test can count what a job-wide budget lets through."""

    def __init__(self, delay: float, budget=None) -> None:
        super().__init__(delay)
        self.budget = budget
        self.counts = {"charged": 0}

    def grade(self, trajectories):
        batch = list(trajectories)
        for _ in batch:
            if self.budget is not None:
                self.budget.charge(1, 10, backend="fake")
            self.counts["charged"] += 1
        yield from super().grade(batch)


class FailingPolicy:
    """The embedded policy that raises on its ``fail_after + 1``-th generate call (per
    process): a sampling worker that breaks mid-job, for the resume test."""

    def __init__(self, fail_after: int) -> None:
        from stepsieve.backends.transformers import TransformersBackend

        self.inner = TransformersBackend()
        self.fail_after = fail_after
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, *args, **kw):
        self.calls += 1
        if self.calls > self.fail_after:
            raise RuntimeError("injected failure")
        return self.inner.generate(*args, **kw)


if __name__ == "__main__":
    stats = run_grading(SlowGrader(float(sys.argv[3])), sys.argv[1], sys.argv[2], batch_size=2)
    print(stats.to_dict())
