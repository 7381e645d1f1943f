"""OmegaPRM's MCTS labeller (reference, from the paper) vs ``mc --mode first-error`` on one policy; prints JSON.

    PYTHONPATH=src python benchmarks/peers/omegaprm.py [--tasks 40] [--k 8] [--seed 0]

OmegaPRM (Luo et al. 2024, "Improve Mathematical Reasoning in Language Models by Automated
Process Supervision", arXiv:2406.06592) is written here from the paper as a REFERENCE for
the comparison, not a stepsieve feature. Per question it grows a tree of states (question
+ a prefix of steps), each with its Monte Carlo value MC(s) from ``k`` rollouts:

1. rollouts from the question: ``k`` completions of the root; MC(root) = share correct;
2. a rollout pool: every WRONG-answer rollout r of a state s with 0 < MC(s) < 1 (a
   state that is sometimes right, whose rollout went wrong, holds a first error);
3. selection: the pool entry maximising Q(s, r) + U(s), with
   Q(s, r) = α^(1 − MC(s)) · β^(len(r) / L)  (prefer confident states, short rollouts) and
   U(s) = c_puct · sqrt(Σ_i N(s_i)) / (1 + N(s))  (visit counts over the tree's states);
   the paper's constants α = 0.5, β = 0.9, L = 500 (tokens), c_puct = 0.125;
4. binary search on the selected rollout for its first error: the midpoint prefix s + r[:m]
   gets ``k`` rollouts; MC > 0 → the error is to the right, else to the left; every probed
   prefix becomes a state of the tree (its MC, its rollouts; its wrong rollouts join the
   pool when 0 < MC < 1);
5. maintenance: N(s) += 1 for the selected state; repeat until the pool is empty, the
   search limit (``--search-limit``, the paper's budget of searches per question) is
   reached, or the rollout budget is spent.

A prefix that already states its answer (the answer line) is valued by that answer for
free, as in stepsieve's ``mc``; identical prefixes are probed once per tree.

Side by side, on the SAME tasks and policy (the embedded policy, embedded arith world):

- both start from the same ``k`` rollouts from each question (seed 0: OmegaPRM's root
  probe and stepsieve's sample are the same completions);
- stepsieve: ``MCGrader(mode="first-error", n=k)`` (the binary search over each
  wrong-answer trajectory, shared prefixes probed once) with default options, and with the
  documented robust options (``confirm``, ``rollout_check=rules``) as a second row;
- OmegaPRM gets, per question, the rollouts stepsieve's default row spent on it (the k
  from the question included): equal budget. A search the budget cuts short labels nothing.

Measured, per method, on the trajectories it labels (the root's right-answer rollouts as
"no error", each searched wrong rollout with its located first error), against the world's
exact ``truth``: ProcessBench first-error F1 (``stepsieve.evaluate``), acc on erroneous /
correct, located errors (a predicted first error), correctly located errors, and rollouts
per located / per correctly located error. A seeded request cache makes a rollout both
methods share run once; the figures count what each method requested on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import Progress

from stepsieve.backends import RequestCache
from stepsieve.backends.transformers import TransformersBackend
from stepsieve.embedded import model_dir
from stepsieve.evaluate import evaluate, predicted_first_error
from stepsieve.graders.mc import MCGrader
from stepsieve.trajectory import Label, Outcome, Step, Trajectory
from stepsieve.worlds import Task
from stepsieve.worlds.arith import ArithWorld, task_to_dict

RESULTS = Path(__file__).resolve().parent.parent / "results"
ALPHA, BETA, L, C_PUCT = 0.5, 0.9, 500, 0.125  # the paper's constants


@dataclass
class Roll:
    """One rollout from a state: its new steps, generated tokens, and whether it is right."""

    steps: list[str]
    tokens: int
    correct: bool


@dataclass
class State:
    """A tree node: question + ``prefix``; MC from its rollouts; N its visit count."""

    prefix: tuple[str, ...]
    mc: float
    rolls: list[Roll] = field(default_factory=list)
    visits: int = 0


@dataclass
class TreeResult:
    labelled: list[tuple[list[str], int, int | None]]  # (steps, located first error or -1, root rollout j)
    rollouts: int = 0
    searches: int = 0
    cut_by_budget: int = 0
    pool_left: int = 0
    states: int = 0


Probe = Generator[tuple[str, ...], list[Roll], TreeResult]


def q_value(s: State, r: Roll) -> float:
    return ALPHA ** (1 - s.mc) * BETA ** (r.tokens / L)


def u_value(s: State, total_visits: int) -> float:
    return C_PUCT * math.sqrt(total_visits) / (1 + s.visits)


def omegaprm(world: ArithWorld, task: Task, k: int, budget: int, search_limit: int) -> Probe:
    """One question's search. Yields each prefix to probe (k rollouts), receives its rollouts."""
    states: dict[tuple[str, ...], State] = {}
    out = TreeResult([])

    def state(prefix: tuple[str, ...], rolls: list[Roll]) -> State:
        s = State(prefix, sum(r.correct for r in rolls) / len(rolls), rolls)
        states[prefix] = s
        if 0 < s.mc < 1:
            pool.extend((s, r) for r in rolls if not r.correct)
        return s

    pool: list[tuple[State, Roll]] = []
    root_rolls = yield ()
    out.rollouts += k
    root = state((), root_rolls)
    out.labelled += [(r.steps, -1, j) for j, r in enumerate(root.rolls) if r.correct]
    while pool and out.searches < search_limit:
        total = sum(s.visits for s in states.values())
        pick = max(pool, key=lambda sr: q_value(*sr) + u_value(sr[0], total))
        pool.remove(pick)
        s, r = pick
        s.visits += 1
        out.searches += 1
        full = [*s.prefix, *r.steps]
        lo, hi = len(s.prefix), len(full) - 1  # full itself is wrong (its answer): the error is in r
        cut = False
        while lo < hi:
            mid = (lo + hi) // 2
            prefix = tuple(full[: mid + 1])
            node = states.get(prefix)
            if node is None and world.parse_answer(prefix[-1]) is not None:  # states its answer: free
                node = State(prefix, float(world.check_answer(task, world.parse_answer(prefix[-1]))))
            if node is None:
                if out.rollouts + k > budget:
                    cut = True
                    break
                rolls = yield prefix
                out.rollouts += k
                node = state(prefix, rolls)
            if node.mc > 0:
                lo = mid + 1
            else:
                hi = mid
        if cut:
            out.cut_by_budget += 1
            break
        out.labelled.append((full, lo, next(j for j, x in enumerate(root.rolls) if x is r) if s is root else None))
    out.pool_left, out.states = len(pool), len(states)
    return out


class Policy:
    """k rollouts per (task, prefix) in one batched call, seeded like stepsieve's mc."""

    def __init__(self, backend: TransformersBackend, world: ArithWorld, k: int, max_tokens: int) -> None:
        self.backend, self.world, self.k, self.max_tokens = backend, world, k, max_tokens

    def run(self, probes: list[tuple[Task, tuple[str, ...]]]) -> list[list[Roll]]:
        if not probes:
            return []
        prompts = [self.world.prompt(t, list(p)) for t, p in probes]
        gens = self.backend.generate(prompts, n=self.k, max_tokens=self.max_tokens, temperature=1.0, seed=0)
        w = self.world
        return [[Roll(w.split_steps(g.text), g.tokens, w.check_answer(t, w.parse_answer(g.text))) for g in row]
                for (t, _), row in zip(probes, gens)]


def trajectory(world: ArithWorld, task: Task, steps: list[str], tid: str) -> Trajectory:
    """A complete solution as a Trajectory with per-step truth (as benchmarks/grading.py)."""
    fe = world.first_error(task, steps)
    answer = world.parse_answer("\n".join(steps))
    t = Trajectory(tid, task.problem, [Step(i, s) for i, s in enumerate(steps)],
                   Outcome(answer, world.check_answer(task, answer)), task.answer,
                   {"world": "arith", "task": task_to_dict(task), "split": "arith"})
    for i, s in enumerate(t.steps):
        s.labels["truth"] = Label(verdict="correct" if fe == -1 or i < fe else ("incorrect" if i == fe else None))
    return t


def mark(t: Trajectory, label: str, fe: int) -> None:
    for i, s in enumerate(t.steps):
        s.labels[label] = Label(verdict="correct" if fe == -1 or i < fe else ("incorrect" if i == fe else None))


def measure(ts: list[Trajectory], label: str, rollouts: int) -> dict:
    rep = evaluate(ts, label, "truth")
    pb = rep["processbench"]["splits"]["arith"]
    located = correct = 0
    for t in ts:
        got = predicted_first_error(t, label)
        if got is not None and got >= 0:
            located += 1
            correct += got == t.first_error("truth")
    return {
        "labelled_trajectories": len(ts),
        "truly_erroneous": sum(1 for t in ts if t.first_error("truth") not in (-1, None)),
        "first_error_f1": rep["processbench"]["average_f1"],
        "acc_error": pb["acc_error"], "acc_correct": pb["acc_correct"],
        "located_errors": located, "correctly_located_errors": correct,
        "rollouts": rollouts,
        "rollouts_per_located_error": rollouts / located if located else None,
        "rollouts_per_correctly_located_error": rollouts / correct if correct else None,
    }


def run_mc(policy: TransformersBackend, world: ArithWorld, ts: list[Trajectory], k: int, max_tokens: int,
           label: str, opts: dict, progress: Progress) -> dict[str, int]:
    """Grade ``ts`` with mc first-error under ``label``; rollouts spent per task."""
    grader = MCGrader(policy, world, mode="first-error", n=k, max_tokens=max_tokens, seed=0, name=label, **opts)
    bar = progress.add_task(f"stepsieve mc {label}", total=len(ts))
    spent: dict[str, int] = {}
    step = 10 * k  # ten tasks' k trajectories per batch: a task's shared prefixes are probed once
    for i in range(0, len(ts), step):
        for t in grader.grade(ts[i : i + step]):
            tid = t.meta["task"]["id"]
            spent[tid] = spent.get(tid, 0) + sum(s.labels[label].cost.calls for s in t.steps)
        progress.advance(bar, len(ts[i : i + step]))
    return spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--k", type=int, default=8, help="rollouts per MC estimate (both methods)")
    ap.add_argument("--seed", type=int, default=0, help="task seed")
    ap.add_argument("--search-limit", type=int, default=100, help="OmegaPRM searches per question (paper: 100)")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--cache", default=".stepsieve-cache/peers_omegaprm.sqlite")
    ap.add_argument("--out", default=str(RESULTS / "peers_omegaprm.json"))
    a = ap.parse_args()
    world = ArithWorld()
    backend = TransformersBackend(model_dir("policy"), max_batch_rows=256, cache=RequestCache(a.cache))
    policy = Policy(backend, world, a.k, a.max_tokens)
    tasks = world.sample_tasks(a.tasks, seed=a.seed, ops=(4, 6))
    t0 = time.perf_counter()
    with Progress(transient=True) as progress:
        # The k rollouts from each question: stepsieve's sample and OmegaPRM's root probe.
        roots = policy.run([(t, ()) for t in tasks])
        ts = [trajectory(world, task, r.steps, f"{task.id}:{j}") for task, rs in zip(tasks, roots)
              for j, r in enumerate(rs)]
        rows: dict[str, dict] = {}
        spent: dict[str, dict[str, int]] = {}
        for label, opts in (("mc", {}), ("mc_confirm_rules", {"confirm": True, "rollout_check": "rules"})):
            t1 = time.perf_counter()
            per_task = run_mc(backend, world, ts, a.k, a.max_tokens, label, opts, progress)
            spent[label] = {t.id: a.k + per_task.get(t.id, 0) for t in tasks}
            rows[label] = {"options": {"mode": "first-error", "n": a.k, **opts},
                           **measure(ts, label, sum(spent[label].values())),
                           "seconds_this_run": round(time.perf_counter() - t1, 1)}
            print(json.dumps({label: rows[label]}), file=sys.stderr, flush=True)

        # OmegaPRM, every question's tree in lockstep (one batched call per round).
        t1 = time.perf_counter()
        bar = progress.add_task("OmegaPRM", total=len(tasks))
        gens = {t.id: omegaprm(world, t, a.k, spent["mc"][t.id], a.search_limit) for t in tasks}
        by_id = {t.id: t for t in tasks}
        want = {tid: next(g) for tid, g in gens.items()}
        done: dict[str, TreeResult] = {}
        while want:
            order = list(want)
            results = policy.run([(by_id[tid], want[tid]) for tid in order])
            want = {}
            for tid, rolls in zip(order, results):
                try:
                    want[tid] = gens[tid].send(rolls)
                except StopIteration as stop:
                    done[tid] = stop.value
                    progress.advance(bar)
        om_ts, paired = [], []
        by_tid = {t.id: t for t in ts}
        for tid, res in done.items():
            for j, (steps, fe, root_j) in enumerate(res.labelled):
                t = trajectory(world, by_id[tid], steps, f"{tid}:omega{j}")
                mark(t, "omegaprm", fe)
                om_ts.append(t)
                if root_j is not None:  # a rollout from the question: mc labelled it too
                    twin = by_tid[f"{tid}:{root_j}"]
                    mark(twin, "omegaprm", fe)
                    paired.append(twin)
        rows["omegaprm"] = {
            "options": {"k": a.k, "alpha": ALPHA, "beta": BETA, "L": L, "c_puct": C_PUCT,
                        "search_limit": a.search_limit, "rollout_budget": "per question: what row 'mc' spent on it"},
            **measure(om_ts, "omegaprm", sum(r.rollouts for r in done.values())),
            "searches": sum(r.searches for r in done.values()),
            "searches_cut_by_budget": sum(r.cut_by_budget for r in done.values()),
            "wrong_rollouts_left_in_pool": sum(r.pool_left for r in done.values()),
            "tree_states": sum(r.states for r in done.values()),
            "seconds_this_run": round(time.perf_counter() - t1, 1),
        }
    # Paired: the rollouts from the questions that OmegaPRM labelled, each method's label on them.
    same = {name: {k: v for k, v in measure(paired, name, 0).items() if not k.startswith("rollouts")}
            for name in ("mc", "mc_confirm_rules", "omegaprm")}
    om, mc = rows["omegaprm"], rows["mc"]
    result = {
        "world": "arith (embedded world, embedded policy)",
        "command": f"PYTHONPATH=src python benchmarks/peers/omegaprm.py --tasks {a.tasks} --k {a.k} --seed {a.seed}",
        "tasks": a.tasks, "ops": [4, 6], "k": a.k, "temperature": 1.0, "max_tokens": a.max_tokens,
        "rollouts_from_questions": a.k * a.tasks,
        "wrong_answer_rollouts_from_questions": sum(1 for t in ts if not t.outcome.correct),
        "rows": rows,
        "paired_on_question_rollouts_omegaprm_labelled": same,
        "ratios_mc_over_omegaprm": {
            "first_error_f1": (mc["first_error_f1"] / om["first_error_f1"]) if om["first_error_f1"] else None,
            "correctly_located_errors": (mc["correctly_located_errors"] / om["correctly_located_errors"]
                                         if om["correctly_located_errors"] else None),
            "rollouts": mc["rollouts"] / om["rollouts"] if om["rollouts"] else None,
        },
        "cache_hits": backend.cache_hits,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
