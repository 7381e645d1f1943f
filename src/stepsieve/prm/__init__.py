"""Discriminative step reward models (StepRM): render, train, score, grade.

A StepRM is a causal-LM backbone with a scalar head read at each step's separator token; a
``VLMStepRM`` is one on a vision-language model that sees the steps' screenshots.
:func:`render` is the one place a trajectory becomes tokens, shared by training and scoring.
"""

from stepsieve.prm._grader import PRMGrader, default_model_dir
from stepsieve.prm._implicit import IMPLICIT_CONFIG_NAME, ImplicitConfig, ImplicitPRM
from stepsieve.prm._implicit_grader import ImplicitGrader, ImplicitOptions, ImplicitScorer
from stepsieve.prm._implicit_train import ImplicitTrainOptions, outcome_target, train_implicit_prm
from stepsieve.prm._load import LoadedScorer, load_scorer, split_query, task_from_prompt, text_to_trajectory
from stepsieve.prm._model import CONFIG_NAME, HEAD_NAME, StepRM, StepRMConfig, load_tokenizer
from stepsieve.prm._render import (
    Rendered,
    collate,
    render,
    render_many,
    render_trajectory,
    separator_token_id,
    step_segment,
    task_text,
)
from stepsieve.prm._score import ScoreStats, StepRMScorer, StepScorer, score_per_prefix
from stepsieve.prm._threshold import choose_threshold, first_error_at, processbench_f1
from stepsieve.prm._train import (
    Example,
    TrainOptions,
    cache_features,
    make_examples,
    step_targets,
    train_prm,
    train_steps,
)
from stepsieve.prm._vlm import VLM_CONFIG_NAME, VLMRendered, VLMStepRM, VLMStepRMConfig, is_vlm

__all__ = [
    "CONFIG_NAME",
    "HEAD_NAME",
    "IMPLICIT_CONFIG_NAME",
    "VLM_CONFIG_NAME",
    "Example",
    "ImplicitConfig",
    "ImplicitGrader",
    "ImplicitOptions",
    "ImplicitPRM",
    "ImplicitScorer",
    "ImplicitTrainOptions",
    "LoadedScorer",
    "PRMGrader",
    "Rendered",
    "ScoreStats",
    "StepRM",
    "StepRMConfig",
    "StepRMScorer",
    "StepScorer",
    "TrainOptions",
    "VLMRendered",
    "VLMStepRM",
    "VLMStepRMConfig",
    "cache_features",
    "choose_threshold",
    "collate",
    "default_model_dir",
    "first_error_at",
    "is_vlm",
    "load_scorer",
    "load_tokenizer",
    "make_examples",
    "outcome_target",
    "processbench_f1",
    "render",
    "render_many",
    "render_trajectory",
    "score_per_prefix",
    "separator_token_id",
    "split_query",
    "step_segment",
    "step_targets",
    "task_from_prompt",
    "task_text",
    "text_to_trajectory",
    "train_implicit_prm",
    "train_prm",
    "train_steps",
]
