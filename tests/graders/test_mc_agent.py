"""mc on the toolcalc agent world: rollouts resume from a replayed environment prefix."""

from __future__ import annotations

from stepsieve.backends._protocol import Generation
from stepsieve.graders.mc import MCGrader
from stepsieve.trajectory import Cost, Step, Trajectory
from stepsieve.worlds.arith import task_to_dict
from stepsieve.worlds.toolcalc import ToolCalcWorld, parse_action


class ScriptedAgent:
    """Follows the reference actions while the episode so far matches them; once off the
    reference it answers with the last observation (so a wrong prefix cannot recover)."""

    name = "scripted-agent"
    model = "agent"

    def __init__(self, world, tasks):
        self.world = world
        self.tasks = {t.problem: t for t in tasks}
        self.cost = Cost()
        self.prompts: list[str] = []

    def generate(self, prompts, *, n=1, max_tokens=256, stop=(), temperature=1.0, seed=None, logprobs=False):
        assert list(stop) == ["\n"]  # one action per turn
        self.prompts += prompts
        out = []
        for p in prompts:
            lines = p.splitlines()
            task = self.tasks[lines[0].removeprefix("Problem: ")]
            acts = [ln[2:] for ln in lines if ln.startswith("> ")]
            obs = [ln[2:] for ln in lines if ln.startswith("< ")]
            ref = self.world.reference(task)
            nxt = ref[len(acts)] if acts == ref[: len(acts)] else f"answer {obs[-1] if obs else 0}"
            out.append([Generation("> " + nxt, 4) for _ in range(n)])
        self.cost = self.cost + Cost(len(prompts), 0, 4 * n * len(prompts), 0.0)
        return out


def test_agent_first_error_from_replayed_prefixes():
    w = ToolCalcWorld()
    (task,) = w.sample_tasks(1, seed=3, ops=3)
    ref = w.reference(task)
    _tool, arg = parse_action(ref[1])
    wrong = f"calculator {arg.split(' ')[0]} + 1"  # a wrong operation at action 1
    actions = [ref[0], wrong, f"answer {w.execute(wrong)}"]
    obs = w.replay(task, actions)
    t = Trajectory(
        "a", task.problem,
        [Step(i, a, kind="action", observation=o) for i, (a, o) in enumerate(zip(actions, obs))],
        meta={"world": "toolcalc", "task": task_to_dict(task)},
    )
    be = ScriptedAgent(w, [task])
    (g,) = MCGrader(be, w, n=2, mode="first-error").grade([t])
    assert g.first_error("mc") == 1 == w.first_error(task, actions)
    # probe of the prefix [ref0]: its prompt holds the replayed observation of ref0
    assert any(f"> {ref[0]}\n< {w.execute(ref[0])}\n" in p for p in be.prompts)
    lab0 = g.steps[0].labels["mc"]
    assert lab0.score == 1.0 and lab0.cost.calls == 2


def test_agent_every_step_multi_turn_rollouts_reach_the_answer():
    w = ToolCalcWorld()
    (task,) = w.sample_tasks(1, seed=5, ops=4)
    ref = w.reference(task)
    t = Trajectory(
        "b", task.problem,
        [Step(i, a, kind="action", observation=o) for i, (a, o) in enumerate(zip(ref, w.replay(task, ref)))],
        meta={"world": "toolcalc", "task": task_to_dict(task)},
    )
    be = ScriptedAgent(w, [task])
    (g,) = MCGrader(be, w, n=2, keep_rollouts=True).grade([t])
    labs = [s.labels["mc"] for s in g.steps]
    assert [lab.score for lab in labs] == [1.0] * len(ref)
    # from the first action, a rollout takes the remaining reference actions turn by turn
    assert labs[0].extra["rollouts"][0]["text"].splitlines() == ref[1:]
    assert labs[-1].extra["from"] == "outcome"
