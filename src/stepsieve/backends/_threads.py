"""Run tiny models on one torch thread.

Why: torch splits every op over its intra-op threads. For a model whose tensors are a few
thousand numbers (the embedded gui policy: 78k parameters, a few dozen candidates a call) the
split costs far more than the op: on 2 shared cores the gui policy's mc grading ran 60× slower
on torch's default threads than on one (0.34 s vs 21 s of model time for the same 240 calls).
Large models keep the default; these wrap their calls in :func:`one_thread`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_thread"]


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch's intra-op threads set to 1 inside the block, restored after."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
