"""Running jobs: resumable, append-only grading keyed by trajectory id + grader config hash."""

from stepsieve.engine._job import JobStats, run_grading
from stepsieve.engine._resume import dropped_path, scan_done

__all__ = ["JobStats", "dropped_path", "run_grading", "scan_done"]
