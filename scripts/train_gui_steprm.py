"""Train the embedded vision StepRM of the ``gui`` world (CPU only, reproducible from a seed).

    python scripts/train_gui_steprm.py --workdir runs/gui_steprm --tasks 220 --per-task 2 --seed 1000 \
        --mc-n 4 --shards 3

Every stage is the CLI a user runs (printed before it runs, with its time after):

1. ``stepsieve sample --world gui``: ``--tasks`` 5-8-step tasks from ``--seed`` (disjoint from
   the benchmark's seed 0), ``--per-task`` rollouts of the embedded gui policy each, at
   temperature 1, with screenshots and ``truth`` labels;
2. the ``truth`` labels are removed (``train.notruth.jsonl``): nothing of the truth reaches
   grading or training;
3. ``stepsieve grade --grader mc``: every-step Monte Carlo values (``n`` rollouts per prefix,
   ``root=true`` for the empty prefix) with the same policy; ``--shards K`` runs K grading
   processes on consecutive slices at once and concatenates their outputs (image paths are
   relative to the folder, which all shards share);
4. ``stepsieve train-prm --arch vision --label mc --targets advantage`` into ``--out``
   (default: the package's ``embedded/gui_steprm``).

Stages whose output exists are skipped (``grade`` resumes), so a run can be continued.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], stage: str, times: dict[str, float]) -> None:
    print("$ stepsieve " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "stepsieve", *cmd], check=True, env=env)
    times[stage] = round(time.perf_counter() - t0, 1)
    print(f"[{stage}: {times[stage]} s]", flush=True)


def strip_truth(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` without any ``truth`` label; returns the records copied."""
    n = 0
    tmp = dst.with_name(dst.name + ".partial")
    with open(src, "rb") as f, open(tmp, "wb") as g:
        for line in f:
            rec = orjson.loads(line)
            for s in rec["steps"]:
                s.get("labels", {}).pop("truth", None)
            g.write(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE))
            n += 1
    tmp.replace(dst)
    return n


def shard(src: Path, k: int) -> list[Path]:
    """``src`` cut into ``k`` consecutive slices ``NAME.notruth.<i>.jsonl`` beside it (made once)."""
    lines = src.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // max(1, k))
    out = []
    for i in range(0, len(lines), size):
        p = src.with_name(src.name.replace(".jsonl", f".{i // size}.jsonl"))
        if not p.exists():
            p.write_bytes(b"".join(lines[i : i + size]))
        out.append(p)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "gui_steprm")
    ap.add_argument("--tasks", type=int, default=220)
    ap.add_argument("--per-task", type=int, default=2, help="policy rollouts per task")
    ap.add_argument("--steps", default="5-8", help="plan length of the tasks")
    ap.add_argument("--seed", type=int, default=1000, help="task and sampling seed (the benchmark uses 0)")
    ap.add_argument("--mc-n", type=int, default=4, help="mc rollouts per prefix")
    ap.add_argument("--shards", type=int, default=1, help="grading processes run at once")
    ap.add_argument("--targets", default="verdict")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "stepsieve" / "embedded" / "gui_steprm")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    sampled, bare, graded = (a.workdir / n for n in ("train.jsonl", "train.notruth.jsonl", "train.mc.jsonl"))
    if not sampled.exists():
        run(["sample", "--world", "gui", "--n", str(a.tasks), "--ops", a.steps, "--samples-per-task",
             str(a.per_task), "--seed", str(a.seed), "--out", str(sampled)], "sample", times)
    if not bare.exists():
        print(f"{strip_truth(sampled, bare)} records without truth -> {bare}")
    mc = ["--grader", "mc", "--backend", "gui-policy", "-o", "mode=every-step", "-o", "root=true", "-o", f"n={a.mc_n}"]
    if not graded.exists():
        t0 = time.perf_counter()
        parts = shard(bare, a.shards)
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        procs = []
        for src in parts:
            dst = src.with_name(src.name.replace(".notruth.", ".mc."))
            print(f"$ stepsieve grade {src} {dst} {' '.join(mc)}", flush=True)
            procs.append((subprocess.Popen([sys.executable, "-m", "stepsieve", "grade", str(src), str(dst), *mc],
                                           env=env), dst))
        for p, _ in procs:
            if p.wait() != 0:
                raise SystemExit(f"grading failed (exit {p.returncode}); re-run to resume")
        with open(graded.with_name(graded.name + ".partial"), "wb") as g:
            for _, dst in procs:
                g.write(dst.read_bytes())
        graded.with_name(graded.name + ".partial").replace(graded)
        times["mc"] = round(time.perf_counter() - t0, 1)
        print(f"[mc: {times['mc']} s]", flush=True)
    run(["train-prm", str(graded), "--arch", "vision", "--label", "mc", "--targets", a.targets,
         "--epochs", str(a.epochs), "--seed", "0", "--out", str(a.out)], "train", times)
    print(orjson.dumps({"seconds": times}).decode())


if __name__ == "__main__":
    main()
