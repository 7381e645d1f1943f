"""Command-line interface: ``stepsieve VERB ...``.

Every verb module below registers its command(s) on the shared ``app``. Errors that
stepsieve raises on purpose (StepsieveError) are printed as one clear line, no traceback.
"""

from __future__ import annotations

import sys

from stepsieve._errors import StepsieveError
from stepsieve.cli._app import app

# Verb modules: importing one registers its command(s). Add one line per verb module.
from stepsieve.cli import _io_verbs  # noqa: F401,E402  convert, inspect
from stepsieve.cli import _curate  # noqa: F401,E402  curate, pairs, credit, export
from stepsieve.cli import _train_prm  # noqa: F401,E402  train-prm
from stepsieve.cli import _grade  # noqa: F401,E402  grade
from stepsieve.cli import _eval  # noqa: F401,E402  eval
from stepsieve.cli import _search  # noqa: F401,E402  search
from stepsieve.cli import _report  # noqa: F401,E402  report
from stepsieve.cli import _sample  # noqa: F401,E402  sample
from stepsieve.cli import _serve_prm  # noqa: F401,E402  serve-prm

__all__ = ["app", "main"]


def main() -> None:
    try:
        app(standalone_mode=True)
    except StepsieveError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
