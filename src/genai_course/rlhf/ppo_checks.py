"""Lab 3: the checks that stop PPO early with a clear message, rather than train on garbage.

A frozen adapter (only the value head would learn), batch sizes several processes cannot share, and
NaN or inf in rewards, losses or gradients (decided by all processes together, so none waits).
"""

from __future__ import annotations

import torch
from peft import PeftModel

from genai_course.ranks import Ranks
from genai_course.rlhf.ppo_config import PPOConfig


class PPOTrainingError(RuntimeError):
    """PPO stopped because continuing would only produce garbage (NaN/inf, runaway KL)."""


def check_trainable_adapter(model: PeftModel) -> None:
    """Refuse a PeftModel whose adapter is frozen: only the value head would train, and PPO would look fine."""
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"The PeftModel has no trainable parameters (adapter {model.active_adapter!r} is frozen), so PPO "
            "would train only the value head and the policy would never change. Load the adapter with "
            "PeftModel.from_pretrained(base, path, is_trainable=True), or pass the plain model for a fresh adapter."
        )


def check_shares(config: PPOConfig, processes: int) -> None:
    """Refuse batch sizes that several processes cannot split evenly (each must take as many gradient steps)."""
    if processes > 1 and (config.batch_size % processes or config.mini_batch_size % processes):
        raise ValueError(
            f"batch_size={config.batch_size} and mini_batch_size={config.mini_batch_size} are the sizes of the "
            f"whole step and gradient step, split over {processes} processes: both must be multiples of {processes}."
        )


def check_finite(
    what: str, tensor: torch.Tensor, ranks: Ranks, *, step: int | None = None, hint: str | None = None
) -> None:
    """Stop on NaN/inf, decided by all processes together: one process's NaN stops them all, none waits."""
    if not ranks.all(bool(torch.isfinite(tensor).all())):
        where = f"PPO step {step}: " if step is not None else ""
        hint = hint or "lower the learning rate, set max_grad_norm (e.g. 1.0), or check the reward function"
        raise PPOTrainingError(f"{where}the {what} contain NaN or inf; stopping. To fix it: {hint}.")
