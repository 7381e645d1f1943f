"""Step rewards for RL trainers: reward functions (TRL ``GRPOTrainer``, veRL
``compute_score``) and an HTTP server in OpenRLHF's and vLLM's shapes (``serve-prm``), over a
StepRM or an implicit PRM."""

from stepsieve.rewards._functions import StepRewardFunction, compute_score
from stepsieve.rewards._serve import PRMServer, ServeOptions

__all__ = ["PRMServer", "ServeOptions", "StepRewardFunction", "compute_score"]
