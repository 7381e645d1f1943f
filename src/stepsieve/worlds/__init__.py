"""Worlds: task sources with exact checkers (``arith``, and the agent world ``toolcalc``).

``WORLDS.get("arith")()`` builds a world by name; entries are lazy, so importing this
package costs nothing until a world is used.
"""

from stepsieve.worlds._protocol import WORLDS, AgentWorld, Task, World

WORLDS.register("arith", "stepsieve.worlds.arith:ArithWorld")
WORLDS.register("toolcalc", "stepsieve.worlds.toolcalc:ToolCalcWorld")


def get_world(name: str) -> World:
    """An instance of the world registered as ``name``."""
    return WORLDS.get(name)()


__all__ = ["WORLDS", "AgentWorld", "Task", "World", "get_world"]
