"""One search experiment: sample a pool, draw accuracy-vs-N curves, run beam and greedy
search, and line them up at equal generated tokens. The ``stepsieve search`` verb and
``benchmarks/search.py`` both call :func:`run_search`, so the CLI prints what the benchmark
measures."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from stepsieve._errors import ConfigError
from stepsieve.backends import Backend
from stepsieve.prm import StepScorer
from stepsieve.search._aggregate import AGGREGATIONS
from stepsieve.search._beam import BeamConfig, beam_search
from stepsieve.search._curves import accuracy_vs_n
from stepsieve.search._sample import sample_candidates, score_candidates
from stepsieve.search._select import Candidate
from stepsieve.worlds import Task, World

__all__ = ["run_search"]


def run_search(
    tasks: Sequence[Task],
    world: World,
    backend: Backend,
    scorer: StepScorer,
    *,
    ns: Sequence[int] = (1, 2, 4, 8, 16),
    aggregations: Sequence[str] = AGGREGATIONS,
    beams: Sequence[tuple[int, int]] = ((4, 4),),
    greedy_expand: int | None = 4,
    temperature: float = 1.0,
    max_tokens: int = 256,
    max_steps: int = 12,
    max_step_tokens: int = 64,
    stop: str = "\n",
    seed: int = 0,
    repeats: int = 20,
    progress: bool = False,
    pools: list[list[Candidate]] | None = None,
) -> dict[str, Any]:
    """Run every strategy on ``tasks``; returns the JSON-ready result (see docs/steprm.md).

    ``pools`` (``max(ns)`` candidates per task, sampled earlier with the same settings) are
    rescored with ``scorer`` instead of sampled again, so several reward models can be
    compared on one pool; they are scored in place.
    """
    from rich.progress import Progress

    out: dict[str, Any] = {"tasks": len(tasks), "ns": list(ns), "temperature": temperature, "seed": seed}
    with Progress(disable=not progress, transient=False) as bar:
        job = bar.add_task(f"sample {max(ns)} per task", total=len(tasks))
        t0 = time.perf_counter()
        if pools is None:
            pools = sample_candidates(tasks, world, backend, scorer, n=max(ns), max_tokens=max_tokens,
                                      temperature=temperature, seed=seed,
                                      progress=lambda k: bar.update(job, advance=k))
        else:
            if len(pools) != len(tasks) or any(len(p) < max(ns) for p in pools):
                raise ConfigError(f"pools: need {max(ns)} candidates for each of {len(tasks)} tasks")
            score_candidates(tasks, world, pools, scorer)
            bar.update(job, advance=len(tasks))
            out["pool"] = "given"
        out["sample_seconds"] = round(time.perf_counter() - t0, 2)
        samples = [c for p in pools for c in p]
        mean_tokens = sum(c.tokens for c in samples) / max(1, len(samples))
        out["policy_accuracy"] = sum(bool(c.correct) for c in samples) / max(1, len(samples))
        out["tokens_per_sample"] = mean_tokens
        curves = accuracy_vs_n(pools, ns, ["majority", "best_of_n", "weighted_majority"],
                               aggregations=aggregations, repeats=repeats, seed=seed)
        out["curves"] = {name: {str(n): acc for n, acc in c.items()} for name, c in curves.items()}
        out["tokens_at_n"] = {str(n): n * mean_tokens for n in ns}
        runs: list[tuple[str, BeamConfig]] = [
            (f"beam_{b}x{k}", BeamConfig(beam_width=b, expand=k, temperature=temperature, seed=seed, stop=stop,
                                                  max_steps=max_steps, max_step_tokens=max_step_tokens))
            for b, k in beams
        ]
        if greedy_expand:
            runs.append((f"greedy_x{greedy_expand}", BeamConfig(beam_width=1, expand=greedy_expand,
                                                               temperature=temperature, seed=seed, stop=stop,
                                                               max_steps=max_steps, max_step_tokens=max_step_tokens)))
        out["step_search"] = {}
        for name, cfg in runs:
            job = bar.add_task(name, total=cfg.max_steps)
            t0 = time.perf_counter()
            res = beam_search(tasks, world, backend, scorer, cfg, progress=lambda k, j=job: bar.update(j, advance=k))
            tokens = sum(r.tokens for r in res) / len(res)
            # The best-of-N budget spending the same generated tokens, and the curves there.
            eq_n = tokens / mean_tokens if mean_tokens else 0.0
            near = min(ns, key=lambda n: abs(n - eq_n))
            out["step_search"][name] = {
                "beam_width": cfg.beam_width,
                "expand": cfg.expand,
                "aggregation": cfg.aggregation,
                "accuracy": sum(r.correct for r in res) / len(res),
                "tokens_per_task": tokens,
                "equal_token_n": round(eq_n, 2),
                "nearest_n": near,
                "at_nearest_n": {m: out["curves"][m][str(near)]
                                 for m in ("majority", "best_of_n:min", "weighted_majority:min")
                                 if m in out["curves"]},
                "seconds": round(time.perf_counter() - t0, 2),
            }
    n_top = str(max(ns))
    out["at_max_n"] = {m: c[n_top] for m, c in out["curves"].items()}
    return out
