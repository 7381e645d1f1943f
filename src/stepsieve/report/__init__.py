"""``stepsieve report``: a run directory rendered as one self-contained HTML file, and
``stepsieve view``: the step viewer (screenshots with the action drawn, every label)."""

from stepsieve.report._html import SECTIONS, render_html, write_report
from stepsieve.report._rundir import RunData, load_run
from stepsieve.report._viewer import ViewerStats, render_viewer, write_viewer

__all__ = [
    "SECTIONS",
    "RunData",
    "ViewerStats",
    "load_run",
    "render_html",
    "render_viewer",
    "write_report",
    "write_viewer",
]
