"""Worlds: task sources with exact checkers (``arith``, the agent worlds ``toolcalc`` and
``gui``, a shop application seen through screenshots and an accessibility tree) and ``math``
(free-form answers checked with math-verify).

``WORLDS.get("arith")()`` builds a world by name; entries are lazy, so importing this
package costs nothing until a world is used. Third-party worlds register through the
``stepsieve.worlds`` entry-point group. ``rollout`` continues prefixes in any world.
"""

from stepsieve.worlds._protocol import (
    WORLDS,
    AgentWorld,
    ComputerActions,
    Screenshots,
    StatesAnswer,
    StepTruth,
    Task,
    World,
)
from stepsieve.worlds._rollout import rollout

WORLDS.register("arith", "stepsieve.worlds.arith:ArithWorld")
WORLDS.register("toolcalc", "stepsieve.worlds.toolcalc:ToolCalcWorld")
WORLDS.register("math", "stepsieve.worlds.math:MathWorld")
WORLDS.register("gui", "stepsieve.worlds.gui:GuiWorld")


def get_world(name: str) -> World:
    """An instance of the world registered as ``name``."""
    return WORLDS.get(name)()


__all__ = [
    "WORLDS", "AgentWorld", "ComputerActions", "Screenshots", "StatesAnswer", "StepTruth", "Task", "World", "get_world",
    "rollout",
]
