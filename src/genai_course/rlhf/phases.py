"""The phases of a PPO step and their seconds, so a learner sees where a step's time goes.

:class:`~genai_course.rlhf.ppo.Seq2SeqPPOTrainer` logs each phase as ``time_<phase>`` in a step's stats,
and ``benchmarks/bench_ppo.py`` tables them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

# Sampling the responses, scoring them with the reward function, the no-grad policy (with values) and
# reference passes, and the minibatch updates (forward, backward, optimizer). The rest of a step (GAE, KL
# bookkeeping) is small.
PHASES = ("sampling", "scoring", "policy_value_passes", "reference_passes", "updates")


class PhaseTimer:
    """Seconds spent in each of :data:`PHASES` since the last :meth:`reset`."""

    def __init__(self, device: torch.device | str | None = None) -> None:
        # On a GPU the work is asynchronous: without a synchronisation only the launches would be timed.
        self._sync = device is not None and torch.device(device).type == "cuda"
        self.seconds: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    def reset(self) -> None:
        """Start counting a new step."""
        self.seconds = dict.fromkeys(PHASES, 0.0)

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        """Add the seconds of the block to ``phase``."""
        if self._sync:
            torch.cuda.synchronize()
        began = time.perf_counter()
        try:
            yield
        finally:
            if self._sync:
                torch.cuda.synchronize()
            self.seconds[phase] += time.perf_counter() - began

    def log(self) -> dict[str, float]:
        """The seconds as a step's log entries, ``time_<phase>``."""
        return {f"time_{phase}": spent for phase, spent in self.seconds.items()}
