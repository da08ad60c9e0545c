"""The processes a run is spread over (``accelerate launch``): which one this is, and what they agree on.

One process (no accelerator, or one of a single process) is the usual case, in notebooks and tests: then
every method is the identity or does nothing, with no collective call, so the numbers are exactly those
of a plain run. Under several processes each method except :meth:`Ranks.share` is a *collective* call:
every process must make it, in the same order, or they wait for one another forever. That is why a check
that can fail on one process only (a NaN in its share) is decided together with :meth:`Ranks.all`: all
raise, or none does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

T = TypeVar("T")


class Ranks:
    """This process's place among the ``count`` processes of ``accelerator`` (one, without it)."""

    def __init__(self, accelerator: Accelerator | None = None) -> None:
        self.accelerator = accelerator

    @property
    def count(self) -> int:
        return 1 if self.accelerator is None else self.accelerator.num_processes

    @property
    def index(self) -> int:
        return 0 if self.accelerator is None else self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        """The process that writes files and prints the run's logs."""
        return self.index == 0

    @property
    def label(self) -> str:
        """``[rank 1/2]``: how a process names itself in logs."""
        return f"[rank {self.index}/{self.count}]"

    def share(self, items: Sequence[T]) -> list[T]:
        """This process's share of ``items``: every ``count``-th one from its index (not collective)."""
        return list(items[self.index :: self.count])

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` of every process, concatenated along dim 0 (every process must pass the same shape)."""
        if self.count == 1:
            return tensor
        return self.accelerator.gather(tensor.contiguous().to(self.accelerator.device)).cpu()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the processes (one collective call for all of them)."""
        if self.count == 1 or not values:
            return dict(values)
        packed = torch.tensor([float(v) for v in values.values()], dtype=torch.float64, device=self.accelerator.device)
        averaged = self.accelerator.reduce(packed, reduction="mean").cpu()
        return {name: float(v) for name, v in zip(values, averaged)}

    def all(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every process: one process's failed check stops them all alike."""
        if self.count == 1:
            return bool(flag)
        failed = torch.tensor([0.0 if flag else 1.0], device=self.accelerator.device)
        return float(self.accelerator.reduce(failed, reduction="sum")) == 0.0

    def from_main(self, value: T) -> T:
        """The main process's ``value`` on every process (for a choice that must be the same everywhere)."""
        if self.count == 1:
            return value
        box = [value]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def wait(self) -> None:
        """Return once every process got here (e.g. after the main process wrote a file the others read)."""
        if self.count > 1:
            self.accelerator.wait_for_everyone()
