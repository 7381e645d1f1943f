"""Group a stream of trajectories by task with bounded memory.

Pairs and advantages need all the trajectories of one task together (they build a
TaskTree), but an input file must never be loaded whole. ``group_by_task`` keeps at most
``max_open`` task groups open: when a new task arrives and the buffer is full, the group
seen least recently is emitted. Input where each task's trajectories are contiguous (what
``stepsieve sample`` writes) therefore streams with one open group at a time when
``contiguous=True``, and with at most ``max_open`` otherwise. A task whose trajectories
are further apart than the buffer is split into several groups; ``GroupStats.split_tasks``
counts them so the manifest says so (pairs across the split are not formed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from stepsieve._errors import ConfigError
from stepsieve.trajectory import Trajectory, task_key

__all__ = ["GroupStats", "group_by_task"]


@dataclass(slots=True)
class GroupStats:
    """What grouping did: groups emitted and tasks split by the bounded buffer."""

    groups: int = 0
    split_tasks: int = 0


def group_by_task(
    trajectories: Iterable[Trajectory],
    *,
    max_open: int = 1024,
    contiguous: bool = False,
    stats: GroupStats | None = None,
) -> Iterator[list[Trajectory]]:
    """Yield lists of trajectories that share a ``task_key``.

    Groups come out least recently extended first (eviction order), then the rest at the end
    of input in the same order; within a group trajectories keep their input order.
    """
    if max_open < 1:
        raise ConfigError(f"max_open must be at least 1, got {max_open}")
    st = stats if stats is not None else GroupStats()
    closed: set[int] = set()  # hashes of emitted task keys, to count splits cheaply
    if contiguous:  # one open group: a run of equal keys
        key: str | None = None
        run: list[Trajectory] = []
        for t in trajectories:
            k = task_key(t)
            if k == key:
                run.append(t)
                continue
            if run:
                closed.add(hash(key))
                st.groups += 1
                yield run
            if hash(k) in closed:
                st.split_tasks += 1
            key, run = k, [t]
        if run:
            st.groups += 1
            yield run
        return
    open_groups: OrderedDict[str, list[Trajectory]] = OrderedDict()
    for t in trajectories:
        key = task_key(t)
        group = open_groups.get(key)
        if group is not None:
            group.append(t)
            open_groups.move_to_end(key)
            continue
        if len(open_groups) >= max_open:
            old_key, old = open_groups.popitem(last=False)
            closed.add(hash(old_key))
            st.groups += 1
            yield old
        if hash(key) in closed:
            st.split_tasks += 1
        open_groups[key] = [t]
    while open_groups:
        _, old = open_groups.popitem(last=False)
        st.groups += 1
        yield old
