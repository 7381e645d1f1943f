"""Run the CLI's real ``main`` in-process (exactly what the console script calls)."""

from __future__ import annotations

import sys

import pytest

from stepsieve.cli import main

# `stepsieve curate` options for agent runs graded by agent-rules, which abstains on most steps:
# mask what it flags, keep the steps it leaves undecided.
AGENT_CURATE = ["--label", "agent-rules", "--mode", "mask", "--unscored", "keep", "--neutral", "keep",
                "--after-error", "grade"]


def run_cli(argv: list, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``stepsieve ARGV``."""
    old = sys.argv
    sys.argv = ["stepsieve", *map(str, argv)]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err
