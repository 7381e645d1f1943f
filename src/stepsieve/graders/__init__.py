"""Graders: turn trajectories into per-step labels.

Built in (registered lazily by name in ``GRADERS``): ``rules`` (execution-grounded checks,
no model), ``mc`` (Monte Carlo rollouts, every step or first-error binary search), ``judge``
(an LLM judge with votes), ``consensus`` (agreement of two labels), ``progress`` (per-step
advantage from MC values) and ``prm`` (a trained step reward model). Each declares a frozen
``Options`` dataclass; ``build_grader(name, {"n": "16"}, GradeContext(...))`` builds any of
them, and third-party graders, from typed options (see ``_plugin``).
"""

from stepsieve.graders._plugin import (
    GradeContext,
    NoOptions,
    build_grader,
    describe_grader,
    grader_options,
    hashed_config,
)
from stepsieve.graders._protocol import GRADERS, Grader, config_hash, grader_ref
from stepsieve.graders.consensus import ConsensusGrader, ConsensusOptions
from stepsieve.graders.judge import JudgeGrader, JudgeOptions
from stepsieve.graders.mc import MCGrader, MCOptions
from stepsieve.graders.progress import ProgressGrader, ProgressOptions
from stepsieve.graders.rules import RulesGrader, RulesOptions, tool_error

# One line per grader: its name and the class carrying ``Options`` and ``from_options``.
GRADERS.register("rules", "stepsieve.graders.rules:RulesGrader")
GRADERS.register("agent-rules", "stepsieve.graders.agent_rules:AgentRulesGrader")
GRADERS.register("mc", "stepsieve.graders.mc:MCGrader")
GRADERS.register("judge", "stepsieve.graders.judge:JudgeGrader")
GRADERS.register("consensus", "stepsieve.graders.consensus:ConsensusGrader")
GRADERS.register("progress", "stepsieve.graders.progress:ProgressGrader")
GRADERS.register("prm", "stepsieve.prm._grader:PRMGrader")
GRADERS.register("implicit", "stepsieve.prm._implicit_grader:ImplicitGrader")

__all__ = [
    "GRADERS",
    "ConsensusGrader",
    "ConsensusOptions",
    "GradeContext",
    "Grader",
    "JudgeGrader",
    "JudgeOptions",
    "MCGrader",
    "MCOptions",
    "NoOptions",
    "ProgressGrader",
    "ProgressOptions",
    "RulesGrader",
    "RulesOptions",
    "build_grader",
    "config_hash",
    "describe_grader",
    "grader_options",
    "grader_ref",
    "hashed_config",
    "tool_error",
]
