"""torch's thread count, pinned for a block: the order of floating-point sums depends on it, and
training amplifies those last bits, so a run that must be reproducible (the tiny world's build, a
scaling-grid point, a reward model) fixes it and gives back what it found."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def pinned_threads(n: int | None) -> Iterator[None]:
    """torch on ``n`` threads inside the block (None: unchanged), the previous count restored after."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
