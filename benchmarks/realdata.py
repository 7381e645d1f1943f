"""The ``rules`` grader and the evaluation adapters on real public data; prints JSON.

- Per ProcessBench split present (read with ``--from processbench``; the split comes from
  the id prefix): precision of the steps the rules grader flags (a flag is *precise* when it
  is at or after the true first error; ``precision_exact`` counts only flags exactly at it),
  recall (share of erroneous solutions whose true first-error step is flagged), F1 of the
  two, the false-flag rate (share of error-free solutions with any flag), ProcessBench F1 of
  the first flag, seconds.
- PRMBench: PRMScore of the rules grader on the PRMBench sample, computed the way PRMBench's
  scorer aggregates (``stepsieve.evaluate.prmbench``).
- Conversion throughput: ProcessBench JSON -> stepsieve JSONL, records and steps per second.

Usage: python benchmarks/realdata.py [--processbench FILE ...] [--prmbench FILE] [--show-flags N]

``--show-flags N`` also prints (to stderr) the first N imprecise flags with their rationale,
the development loop for the claim checker.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from stepsieve.evaluate import evaluate, prmbench_score
from stepsieve.formats import convert, read_trajectories
from stepsieve.graders.rules import RulesGrader

SAMPLES = Path("/work/shared/samples")


def _rules_on_processbench(path: Path, show: int) -> dict[str, object]:
    t0 = time.perf_counter()
    graded = list(RulesGrader().grade(read_trajectories(path, "processbench")))
    seconds = time.perf_counter() - t0
    by: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    shown = 0
    for t in graded:
        split = str(t.meta.get("split", "all"))
        c = by[split]
        first = t.first_error("truth")
        flags = [i for i, s in enumerate(t.steps) if s.labels["rules"].verdict == "incorrect"]
        c["items"] += 1
        c["steps"] += len(t.steps)
        c["flags"] += len(flags)
        if first == -1:
            c["error_free"] += 1
            c["error_free_flagged"] += bool(flags)
            c["precise"] += 0
        else:
            c["erroneous"] += 1
            c["precise"] += sum(i >= first for i in flags)  # type: ignore[operator]
            c["exact"] += sum(i == first for i in flags)
            c["found"] += first in flags
        for i in flags:
            if (first == -1 or i < first) and shown < show:  # type: ignore[operator]
                shown += 1
                print(f"--- {t.id} step {i} (first error {first}): {t.steps[i].labels['rules'].rationale}\n"
                      f"    {t.steps[i].text[:400]!r}", file=sys.stderr)
    out: dict[str, object] = {}
    for split, c in sorted(by.items()):
        p = c["precise"] / c["flags"] if c["flags"] else None
        r = c["found"] / c["erroneous"] if c["erroneous"] else None
        out[split] = {
            "items": int(c["items"]),
            "erroneous": int(c["erroneous"]),
            "error_free": int(c["error_free"]),
            "flags": int(c["flags"]),
            "precision": p,
            "precision_exact": c["exact"] / c["flags"] if c["flags"] else None,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p and r else None,
            "false_flag_rate": c["error_free_flagged"] / c["error_free"] if c["error_free"] else None,
            "seconds": round(seconds * c["items"] / len(graded), 2),
        }
    rep = evaluate(graded, "rules", "truth")
    out["processbench_f1"] = rep["processbench"]
    return out


def _rules_on_prmbench(path: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    graded = list(RulesGrader().grade(read_trajectories(path, "prmbench")))
    rep = prmbench_score(graded, "rules")
    rep["seconds"] = round(time.perf_counter() - t0, 2)
    return rep


def _throughput(path: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        stats = convert(path, Path(d) / "out.jsonl", src_format="processbench")
        s = time.perf_counter() - t0
        steps = sum(len(t.steps) for t in read_trajectories(Path(d) / "out.jsonl"))
    return {"records": stats.written, "steps": steps, "seconds": round(s, 3),
            "records_per_s": round(stats.written / s), "steps_per_s": round(steps / s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--processbench", type=Path, nargs="*", default=[SAMPLES / "processbench_gsm8k.json"])
    ap.add_argument("--prmbench", type=Path, default=SAMPLES / "prmbench_counterfactual_sample.jsonl")
    ap.add_argument("--show-flags", type=int, default=0)
    args = ap.parse_args()
    result: dict[str, object] = {"processbench": {}, "prmbench": None, "conversion": None}
    for p in args.processbench:
        result["processbench"][p.name] = _rules_on_processbench(p, args.show_flags)  # type: ignore[index]
    if args.prmbench and args.prmbench.exists():
        result["prmbench"] = _rules_on_prmbench(args.prmbench)
    if args.processbench:
        result["conversion"] = _throughput(args.processbench[0])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
