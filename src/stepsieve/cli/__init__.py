"""Command-line interface: ``stepsieve VERB ...``.

Every verb module below registers its command(s) on the shared ``app``. Errors that
stepsieve raises on purpose (StepsieveError) are printed as one clear line, no traceback.
"""

from __future__ import annotations

import sys

from stepsieve._errors import StepsieveError

# Verb modules: importing one registers its command(s). Add one line per verb module.
from stepsieve.cli import (
    _augment,  # noqa: F401  augment
    _curate,  # noqa: F401  curate, pairs, credit, export
    _eval,  # noqa: F401  eval
    _grade,  # noqa: F401  grade
    _io_verbs,  # noqa: F401  convert, inspect
    _report,  # noqa: F401  report, view
    _sample,  # noqa: F401  sample
    _search,  # noqa: F401  search
    _serve_prm,  # noqa: F401  serve-prm
    _train_prm,  # noqa: F401  train-prm
)
from stepsieve.cli._app import app

__all__ = ["app", "main"]


def main() -> None:
    try:
        app(standalone_mode=True)
    except StepsieveError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
