"""Step segmentation: split raw responses into steps with a named, configured Segmenter."""

from stepsieve.segment._segmenter import (
    DEFAULT_SEGMENTER,
    SEGMENTERS,
    BlankLine,
    RegexSegmenter,
    Segmenter,
    SingleLine,
    StepMarker,
    TagSegmenter,
    get_segmenter,
)

__all__ = [
    "DEFAULT_SEGMENTER",
    "SEGMENTERS",
    "BlankLine",
    "RegexSegmenter",
    "Segmenter",
    "SingleLine",
    "StepMarker",
    "TagSegmenter",
    "get_segmenter",
]
