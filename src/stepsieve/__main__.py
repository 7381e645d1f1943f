"""``python -m stepsieve ...``: the same command line as the ``stepsieve`` console script."""

from stepsieve.cli import main

main()
