"""Reasoning augmentation: a model writes the reasoning behind each kept agent action
(WebSTAR), checked before it becomes the step's ``thought``; run by ``stepsieve augment``."""

from stepsieve.augment._augmenter import Augmenter, AugmentOptions, written_hash
from stepsieve.augment._check import check_thought

__all__ = ["AugmentOptions", "Augmenter", "check_thought", "written_hash"]
