"""The two-command demo (``make demo``): one function per pipeline stage.

Today: import the ProcessBench sample shipped with the package into the canonical record
(JSONL and Parquet), then ``stepsieve inspect`` it. Later stages (grade, curate, export,
train, search on the embedded world) are added as further functions called from main().
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stepsieve.formats import SAMPLES
from stepsieve.trajectory import convert

OUT = Path("runs/demo")


def stepsieve(*args: str) -> None:
    """Run a CLI verb exactly as a user would (same entry point, same output)."""
    cmd = [str(Path(sys.executable).with_name("stepsieve")), *args]
    print("$", " ".join(["stepsieve", *args]), flush=True)
    subprocess.run(cmd, check=True)


def import_sample() -> Path:
    """Stage 1: ProcessBench JSON array -> canonical Parquet (streaming, validated)."""
    OUT.mkdir(parents=True, exist_ok=True)
    src = SAMPLES / "processbench_gsm8k_sample.json"
    dst = OUT / "processbench_gsm8k.parquet"
    stepsieve("convert", str(src), str(dst), "--from", "processbench")
    stats = convert(dst, OUT / "processbench_gsm8k.jsonl")  # and canonical JSONL, via the library
    print(f"library convert: {stats}")
    return dst


def inspect(path: Path) -> None:
    """Stage 2: counts, step lengths, truth labels and the first-error histogram."""
    stepsieve("inspect", str(path))


def main() -> None:
    data = import_sample()
    inspect(data)


if __name__ == "__main__":
    main()
