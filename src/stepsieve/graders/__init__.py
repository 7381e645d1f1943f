"""Graders: turn trajectories into per-step labels.

Built in (registered lazily by name in ``GRADERS``): ``rules`` (execution-grounded checks,
no model), ``mc`` (Monte Carlo rollouts, every step or first-error binary search), ``judge``
(an LLM judge with votes), ``consensus`` (agreement of two labels) and ``progress``
(per-step advantage from MC values).
"""

from stepsieve.graders._protocol import GRADERS, Grader, config_hash, grader_ref
from stepsieve.graders._rollout import AnswerChecker
from stepsieve.graders.consensus import ConsensusGrader
from stepsieve.graders.judge import JudgeGrader
from stepsieve.graders.mc import MCGrader
from stepsieve.graders.progress import ProgressGrader
from stepsieve.graders.rules import RulesGrader, tool_error

GRADERS.register("rules", "stepsieve.graders.rules:RulesGrader")
GRADERS.register("mc", "stepsieve.graders.mc:MCGrader")
GRADERS.register("judge", "stepsieve.graders.judge:JudgeGrader")
GRADERS.register("consensus", "stepsieve.graders.consensus:ConsensusGrader")
GRADERS.register("progress", "stepsieve.graders.progress:ProgressGrader")
GRADERS.register("prm", "stepsieve.prm._grader:PRMGrader")  # issue 6: step reward model

__all__ = [
    "GRADERS",
    "AnswerChecker",
    "ConsensusGrader",
    "Grader",
    "JudgeGrader",
    "MCGrader",
    "ProgressGrader",
    "RulesGrader",
    "config_hash",
    "grader_ref",
    "tool_error",
]
