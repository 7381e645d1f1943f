"""``stepsieve report``: a run directory rendered as one self-contained HTML file."""

from stepsieve.report._html import SECTIONS, render_html, write_report
from stepsieve.report._rundir import RunData, load_run

__all__ = ["SECTIONS", "RunData", "load_run", "render_html", "write_report"]
