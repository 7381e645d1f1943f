"""Model access behind one batch-first protocol: in-process ``transformers`` and any
OpenAI-compatible server, with a persistent request cache and a cost budget.

The two implementations import lazily (``BACKENDS.get("transformers")``), so importing this
package does not import torch.
"""

from stepsieve.backends._budget import Budget
from stepsieve.backends._cache import RequestCache, cache_key, cacheable, default_cache_path
from stepsieve.backends._protocol import (
    BACKENDS,
    Backend,
    ChatBackend,
    Generation,
    HasSummary,
    Pooled,
    Pools,
    Score,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "Budget",
    "ChatBackend",
    "Generation",
    "HasSummary",
    "Pooled",
    "Pools",
    "RequestCache",
    "Score",
    "cache_key",
    "cacheable",
    "default_cache_path",
]
