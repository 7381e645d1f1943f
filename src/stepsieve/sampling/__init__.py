"""Sampling trajectories from a world with a policy, labelled with the world's exact truth.

``sample(world, backend, n, seed)`` yields Trajectory records whose steps carry a ``truth``
label and whose outcome says whether the final answer is right; ``rollout`` continues
given prefixes (text worlds in one batched call, agent worlds turn by turn).
"""

from stepsieve.sampling._sample import TRUTH, label_truth, rollout, sample, to_trajectory
from stepsieve.sampling._summary import summarize

__all__ = ["TRUTH", "label_truth", "rollout", "sample", "summarize", "to_trajectory"]
