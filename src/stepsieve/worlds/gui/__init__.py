"""The ``gui`` world: a miniature shop application operated through screenshots or its
accessibility tree, with exact per-action truth from a planner.

Modules: ``_app`` (state, widgets, transitions), ``_render`` (Pillow screens and the
accessibility-tree text), ``_tasks`` (seeded catalogs and goals in words), ``_planner``
(shortest plans and the truth of each action), ``_actions`` (action text <-> ``Action``),
``_world`` (the ``GuiWorld`` agent world).
"""

from stepsieve.worlds.gui._actions import ActionError, format_action, to_action
from stepsieve.worlds.gui._app import HEIGHT, WIDTH
from stepsieve.worlds.gui._planner import ERROR_KINDS
from stepsieve.worlds.gui._tasks import GuiKnobs
from stepsieve.worlds.gui._world import SYSTEM_PROMPT, GuiWorld

__all__ = [
    "ERROR_KINDS", "HEIGHT", "SYSTEM_PROMPT", "WIDTH", "ActionError", "GuiKnobs", "GuiWorld", "format_action",
    "to_action",
]
