"""A multimodal StepRM for computer-use steps: it reads the screenshots, not the accessibility tree.

- :mod:`._inputs`: a trajectory's screens, the strip at each action's point, the action and task;
- :mod:`._model`: :class:`VisionStepRM` (CNNs + text + a causal GRU; safetensors + JSON config);
- :mod:`._targets`: per-step targets from ``mc`` values (``advantage``, ``value``, ``verdict``);
- :mod:`._train`: the training loop (``stepsieve train-prm --arch vision``);
- :mod:`._score`: :class:`VisionScorer`, the ``StepScorer`` the ``prm`` grader uses for it.
"""

from stepsieve.prm.vision._inputs import ACTION_TYPES, ImageCache, StepInputs, trajectory_inputs
from stepsieve.prm.vision._model import (
    VISION_CONFIG_NAME,
    VISION_WEIGHTS_NAME,
    VisionStepRM,
    VisionStepRMConfig,
)
from stepsieve.prm.vision._score import VisionScorer
from stepsieve.prm.vision._targets import TARGETS, step_targets_from_mc
from stepsieve.prm.vision._train import (
    VisionExample,
    VisionTrainOptions,
    prepare,
    train_vision_prm,
    train_vision_steps,
)

__all__ = [
    "ACTION_TYPES",
    "TARGETS",
    "VISION_CONFIG_NAME",
    "VISION_WEIGHTS_NAME",
    "ImageCache",
    "StepInputs",
    "VisionExample",
    "VisionScorer",
    "VisionStepRM",
    "VisionStepRMConfig",
    "VisionTrainOptions",
    "prepare",
    "step_targets_from_mc",
    "train_vision_prm",
    "train_vision_steps",
    "trajectory_inputs",
]
