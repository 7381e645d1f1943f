"""stepsieve: step-level process supervision.

Grade every step of multi-step trajectories (Monte Carlo rollouts, first-error search,
LLM judges, execution checks, step reward models) and turn the grades into training data,
reward models and reward-guided search.
"""

from stepsieve._errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BudgetExceeded,
    ConfigError,
    ContextOverflow,
    DataError,
    GraderError,
    SchemaError,
    StepsieveError,
)
from stepsieve._version import __version__
from stepsieve.trajectory import Cost, GraderRef, Label, Outcome, Step, Trajectory

__all__ = [
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "BudgetExceeded",
    "ConfigError",
    "ContextOverflow",
    "Cost",
    "DataError",
    "GraderError",
    "GraderRef",
    "Label",
    "Outcome",
    "SchemaError",
    "Step",
    "StepsieveError",
    "Trajectory",
    "__version__",
]
