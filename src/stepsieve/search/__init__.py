"""Reward-guided search: best-of-N with PRM aggregation, PRM-weighted and plain majority
vote, step-level beam search, reward-guided greedy, and accuracy-vs-N curves."""

from stepsieve.search._aggregate import AGGREGATIONS, Aggregation, aggregate
from stepsieve.search._beam import BeamConfig, SearchResult, beam_search, greedy_search
from stepsieve.search._curves import accuracy_vs_n, answer_correct
from stepsieve.search._run import run_search
from stepsieve.search._sample import sample_candidates, score_candidates, solution_trajectory
from stepsieve.search._select import SELECTORS, Candidate, best_of_n, majority_vote, select, weighted_majority

__all__ = [
    "AGGREGATIONS",
    "SELECTORS",
    "Aggregation",
    "BeamConfig",
    "Candidate",
    "SearchResult",
    "accuracy_vs_n",
    "aggregate",
    "answer_correct",
    "beam_search",
    "best_of_n",
    "greedy_search",
    "majority_vote",
    "run_search",
    "sample_candidates",
    "score_candidates",
    "select",
    "solution_trajectory",
    "weighted_majority",
]
