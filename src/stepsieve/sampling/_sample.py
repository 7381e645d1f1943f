"""Sample trajectories from a world with a policy backend, labelled with the exact truth.

Every step gets a Label named ``truth`` from the world's checker:

- steps before the first error: verdict ``correct`` (score 1.0);
- the first wrong step: verdict ``incorrect`` (score 0.0), ``extra={"kind": <error kind>}``;
- steps after the first error: verdict ``None`` (score None) — process supervision stops at
  the first error (the ProcessBench convention), and a later step's "truth" would depend on
  which wrong value one chooses to carry.

The outcome is the parsed final answer and whether it is right; a completion that never
states an answer has ``outcome.answer = None`` and ``correct = False``. Trajectories carry
``meta["world"]``, ``meta["task"]`` (so graders rebuild the task), the seed and the sampler.

Determinism: the backend's sample j of a prompt is a function of (prompt, seed, j); agent
turns after the first are seeded from (seed, j, turn). So a fixed seed gives the same
trajectories, however the work is batched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from stepsieve._errors import ConfigError
from stepsieve.backends import Backend, Generation
from stepsieve.trajectory import GraderRef, Label, Outcome, Step, Trajectory
from stepsieve.worlds import AgentWorld, Task, World

__all__ = ["TRUTH", "label_truth", "rollout", "sample", "to_trajectory"]

TRUTH = "truth"
_TRUTH_REF = GraderRef(TRUTH, "exact")


# Optional world capabilities this module uses when a world has them.
class Diagnosis(Protocol):
    @property
    def index(self) -> int:  # first wrong step, -1 when none
        ...

    @property
    def kind(self) -> str | None:  # why it is wrong
        ...


@runtime_checkable
class Diagnoses(Protocol):
    """A world that says where a solution first goes wrong *and why*."""

    def diagnose(self, task: Task, steps: Sequence[str]) -> Diagnosis:
        ...


@runtime_checkable
class ChatTasks(Protocol):
    """A world whose tasks open as chat messages (an agent's system + user turns)."""

    def messages(self, task: Task) -> list[dict[str, Any]]:
        ...


@runtime_checkable
class ToolCalls(Protocol):
    """An agent world whose actions also have a machine form (an OpenAI tool call)."""

    def to_tool_call(self, action: str, call_id: str) -> dict[str, Any]:
        ...


def _turn_seed(seed: int, j: int, turn: int) -> int:
    h = hashlib.sha256(f"sample\x00{seed}\x00{j}\x00{turn}".encode()).digest()
    return int.from_bytes(h[:8], "little") & (2**62 - 1)


def rollout(
    world: World,
    backend: Backend,
    items: Sequence[tuple[Task, Sequence[str]]],
    *,
    n: int = 1,
    seed: int = 0,
    temperature: float = 1.0,
    max_tokens: int = 200,
    max_turns: int = 12,
) -> list[list[tuple[list[str], int]]]:
    """Continue each ``(task, prefix steps)`` ``n`` times: ``out[i][j] = (new steps, tokens)``.

    Text worlds: one batched ``generate`` call (the solution runs to end of sequence).
    Agent worlds: one action per turn (stop at a newline), observations replayed into the
    next prompt, until the agent answers or ``max_turns`` turns have passed.
    """
    if n < 1:
        raise ConfigError(f"rollout needs n >= 1, got {n}")
    if not isinstance(world, AgentWorld):
        prompts = [world.prompt(t, list(p)) for t, p in items]
        gens = backend.generate(prompts, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed)
        return [[(world.split_steps(g.text), g.tokens) for g in row] for row in gens]
    acts: list[list[list[str]]] = [[[] for _ in range(n)] for _ in items]
    toks = [[0] * n for _ in items]
    live = {(i, j) for i in range(len(items)) for j in range(n) if not world.done(list(items[i][1]))}
    for turn in range(max_turns):
        if not live:
            break
        results: dict[tuple[int, int], Generation] = {}
        if turn == 0:  # all samples of an item share its prompt: one call with n samples
            rows = sorted({i for i, _ in live})
            prompts = [world.prompt(items[i][0], list(items[i][1])) for i in rows]
            gens = backend.generate(prompts, n=n, max_tokens=max_tokens, stop=["\n"],
                                    temperature=temperature, seed=seed)
            results = {(i, j): gens[k][j] for k, i in enumerate(rows) for j in range(n) if (i, j) in live}
        else:  # samples have diverged: one call per sample index, seeded by (seed, j, turn)
            for j in range(n):
                rows = sorted(i for i, jj in live if jj == j)
                if not rows:
                    continue
                prompts = [world.prompt(items[i][0], [*items[i][1], *acts[i][j]]) for i in rows]
                gens = backend.generate(prompts, n=1, max_tokens=max_tokens, stop=["\n"],
                                        temperature=temperature, seed=_turn_seed(seed, j, turn))
                results.update({(i, j): g[0] for i, g in zip(rows, gens)})
        for (i, j), g in sorted(results.items()):
            toks[i][j] += g.tokens
            action = g.text.strip().removeprefix(">").strip()
            if not action:
                live.discard((i, j))
                continue
            acts[i][j].append(action)
            if world.done([*items[i][1], *acts[i][j]]):
                live.discard((i, j))
    return [[(acts[i][j], toks[i][j]) for j in range(n)] for i in range(len(items))]


def label_truth(world: World, task: Task, steps: Sequence[str]) -> list[Label]:
    """The ``truth`` label of every step (see the module docstring)."""
    if isinstance(world, Diagnoses):
        d = world.diagnose(task, steps)
        first, kind = d.index, d.kind
    else:
        first, kind = world.first_error(task, steps), None
    labels = []
    for i in range(len(steps)):
        if first < 0 or i < first:
            labels.append(Label(1.0, "correct", grader=_TRUTH_REF))
        elif i == first:
            labels.append(Label(0.0, "incorrect", grader=_TRUTH_REF, extra={"kind": kind} if kind else None))
        else:
            labels.append(Label(None, None, grader=_TRUTH_REF))
    return labels


def _task_dict(task: Task) -> dict[str, Any]:
    return {"id": task.id, "problem": task.problem, "answer": task.answer, "data": task.data}


def to_trajectory(world: World, task: Task, steps: list[str], *, traj_id: str, meta: dict[str, Any]) -> Trajectory:
    """A Trajectory of ``steps`` on ``task`` with ``truth`` labels and the outcome."""
    agent = isinstance(world, AgentWorld)
    if agent and not isinstance(world, ToolCalls):
        raise ConfigError(f"agent world {world.name!r} has no to_tool_call(action, call_id)")
    labels = label_truth(world, task, steps)
    obs: Sequence[str | None] = world.replay(task, steps) if isinstance(world, AgentWorld) else [None] * len(steps)
    out_steps = []
    for i, (s, lab, o) in enumerate(zip(steps, labels, obs)):
        st = Step(i, s, "action" if agent else "reasoning", observation=o, labels={TRUTH: lab})
        if isinstance(world, ToolCalls) and agent:
            st.meta = {"tool_call": world.to_tool_call(s, f"call_{i}")}
        out_steps.append(st)
    if not out_steps:  # the policy wrote nothing: keep the record, one empty wrong step
        out_steps = [Step(0, "", "action" if agent else "reasoning",
                          labels={TRUTH: Label(0.0, "incorrect", grader=_TRUTH_REF, extra={"kind": "empty"})})]
    text = "\n".join(steps)
    answer = world.parse_answer(text)
    correct = bool(world.check_answer(task, answer))
    return Trajectory(
        traj_id,
        world.messages(task) if agent and isinstance(world, ChatTasks) else task.problem,
        out_steps,
        Outcome(answer, correct, 1.0 if correct else 0.0),
        reference=task.answer,
        meta={"world": world.name, "task": _task_dict(task), **meta},
    )


def sample(
    world: World,
    backend: Backend,
    n: int,
    seed: int = 0,
    *,
    temperature: float = 1.0,
    samples_per_task: int = 1,
    knobs: dict[str, Any] | None = None,
    batch_size: int = 64,
    max_tokens: int | None = None,
    tasks: Sequence[Task] | None = None,
) -> Iterator[Trajectory]:
    """Yield ``n`` tasks x ``samples_per_task`` trajectories sampled from ``backend``.

    Tasks come from ``world.sample_tasks(n, seed, **knobs)`` unless given. Work is batched
    ``batch_size`` tasks at a time; the result does not depend on ``batch_size``.
    """
    if tasks is None:
        tasks = world.sample_tasks(n, seed, **(knobs or {}))
    agent = isinstance(world, AgentWorld)
    mt = max_tokens if max_tokens is not None else (48 if agent else 200)
    base_meta = {"seed": seed, "temperature": temperature, "sampler": getattr(backend, "model", "?")}
    for start in range(0, len(tasks), batch_size):
        chunk = list(tasks[start:start + batch_size])
        outs = rollout(world, backend, [(t, ()) for t in chunk], n=samples_per_task, seed=seed,
                       temperature=temperature, max_tokens=mt)
        for t, row in zip(chunk, outs):
            for j, (steps, ntok) in enumerate(row):
                yield to_trajectory(world, t, steps, traj_id=f"{world.name}:{t.id}:s{seed}:{j}",
                                    meta={**base_meta, "sample": j, "tokens_out": ntok})
