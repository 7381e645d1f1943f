"""``tau-bench``: tau-bench results files (a JSON array, one entry per task trial).

    [{"task_id": 6, "trial": 0, "reward": 1.0,
      "info": {"task": {"user_id": ..., "actions": [...], "instruction": ..., "outputs": [...]},
               "source": "user", "user_cost": ..., "reward_info": {...}},
      "traj": [{"role": "system", ...}, {"role": "user", ...},
               {"role": "assistant", "content": null, "tool_calls": [...]},
               {"role": "tool", "tool_call_id": ..., "name": ..., "content": ...}, ...]}, ...]

``traj`` is an OpenAI chat conversation and is read exactly as ``openai-chat`` reads one:
assistant turns are steps, their ``tool_calls`` Actions, the ``tool`` messages their
observations, the simulated user's later turns kept in ``step.meta["after"]``. ``reward`` is
``outcome.reward`` and ``outcome.correct`` is ``reward == 1`` (tau-bench counts a trial as
passed only at full reward); ``task_id``, ``trial`` and ``info`` go to ``meta``; the id is
``tau-<task_id>-<trial>``. Writing gives the entry back (``traj`` through openai-chat).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stepsieve.formats._fields import extra_fields, put_extra_fields, require, require_object
from stepsieve.formats._protocol import RecordFormat
from stepsieve.formats.openai_chat import OpenAIChat
from stepsieve.trajectory import Outcome, Trajectory

__all__ = ["TauBench"]

_KNOWN = frozenset({"task_id", "trial", "reward", "info", "traj"})
_chat = OpenAIChat()


@dataclass(frozen=True)
class TauBench(RecordFormat):
    """tau-bench result entries <-> trajectories (no options)."""

    name: ClassVar[str] = "tau-bench"
    description: ClassVar[str] = (
        "tau-bench results: reward, info and the traj chat messages of each task trial"
    )
    nullable: ClassVar[frozenset[str]] = frozenset({"content"})

    def decode(self, obj: Any) -> Trajectory:
        obj = require_object(obj, "a tau-bench result")
        traj = require(obj, "traj", list)
        t = _chat.decode({"messages": traj})
        reward = obj.get("reward")
        r = float(reward) if isinstance(reward, (int, float)) and not isinstance(reward, bool) else None
        meta: dict[str, Any] = {"source": "tau-bench"}
        for k in ("task_id", "trial", "info"):
            if k in obj:
                meta[k] = obj[k]
        if "reward" in obj and r is None:
            meta["reward"] = reward
        ex = extra_fields(obj, _KNOWN)
        if ex:
            meta["extra_fields"] = ex
        tid = f"tau-{obj.get('task_id')}-{obj.get('trial', 0)}"
        outcome = Outcome(answer=t.outcome.answer, correct=None if r is None else r == 1.0, reward=r)
        return Trajectory(tid, t.task, t.steps, outcome, meta=meta)

    def encode(self, t: Trajectory) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("task_id", "reward", "info", "traj", "trial"):
            if k == "traj":
                out["traj"] = _chat.encode(Trajectory(t.id, t.task, t.steps))["messages"]
            elif k == "reward":
                if t.outcome.reward is not None:
                    out["reward"] = t.outcome.reward
                elif "reward" in t.meta:
                    out["reward"] = t.meta["reward"]
            elif k in t.meta:
                out[k] = t.meta[k]
        return put_extra_fields(out, t)
