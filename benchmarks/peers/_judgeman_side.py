"""judgeman's side of ``benchmarks/peers/judgeman.py``; runs inside judgeman's own venv.

Reads ``{"runs": [judgeman Trajectory dicts]}`` on stdin, runs judgeman's free rules
(``judgeman.run_checks``) on every run, then tries its judge layer exactly as ``judgeman
judge`` would build it (``Judge("qwen/qwen3.5-9b", ...)``, the README's small judge) on the
first step with the process environment as it is: offline that raises, and the exact
message is recorded. Writes one JSON object to stdout: the rules' labels and timing, and
the judge attempt's outcome.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version

from judgeman import Trajectory, run_checks
from judgeman.judge import Judge


def main() -> None:
    runs = [Trajectory.model_validate(r) for r in json.load(sys.stdin)["runs"]]
    t0 = time.perf_counter()
    labels = [[lab.model_dump() for lab in run_checks(run)] for run in runs]
    seconds = time.perf_counter() - t0
    judge: dict = {"model": "qwen/qwen3.5-9b"}
    try:
        lab = Judge("qwen/qwen3.5-9b", 0.5, thinking=False).judge(runs[0], runs[0].steps[0])
        judge.update(ran=True, label=lab.model_dump())
    except BaseException as e:  # noqa: BLE001 - SystemExit (no key) and network errors alike are the finding
        judge.update(ran=False, error=f"{type(e).__name__}: {e}")
    json.dump({"judgeman": version("judgeman"), "labels": labels, "rules_seconds": seconds, "judge": judge},
              sys.stdout)


if __name__ == "__main__":
    main()
