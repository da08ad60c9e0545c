"""The tensor arithmetic of PPO, as pure functions on padded ``[batch, tokens]`` tensors.

Every function takes a response ``mask`` (1 for real response tokens, 0 for padding after the end)
so that padded positions never contribute to a reward, an advantage, a mean or a loss. The formulas
follow the legacy trl ``PPOTrainer`` the course used (per-token KL penalty with the score on the
last token, GAE, advantage whitening, clipped surrogate and value losses, adaptive KL coefficient),
written out here because today's trl no longer ships them. trl's small helpers are reused for
log-probabilities, entropies and padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl.trainer.utils import entropy_from_logits, pad, selective_log_softmax

__all__ = [
    "AdaptiveKLController",
    "FixedKLController",
    "entropy_from_logits",
    "gae",
    "kl_penalty_rewards",
    "lengths_mask",
    "masked_mean",
    "masked_var",
    "pad",
    "policy_loss",
    "response_mask",
    "selective_log_softmax",
    "value_loss",
    "whiten",
]


# --- masks -----------------------------------------------------------------------------------------


def lengths_mask(lengths: torch.Tensor | list[int], max_len: int | None = None) -> torch.Tensor:
    """A float ``[batch, max_len]`` mask with ``lengths[i]`` leading ones per row."""
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    if (lengths < 0).any():
        raise ValueError(f"Response lengths must be >= 0, got {lengths.tolist()}.")
    max_len = int(lengths.max()) if max_len is None and len(lengths) else int(max_len or 0)
    positions = torch.arange(max_len, device=lengths.device)
    return (positions.unsqueeze(0) < lengths.unsqueeze(1)).float()


def response_mask(responses: torch.Tensor, eos_token_id: int | None, pad_token_id: int | None) -> torch.Tensor:
    """Which positions of right-padded generated ``responses`` are real response tokens.

    A response ends at its first EOS (which counts: the policy chose to stop there). Without an EOS it
    ends at its last non-padding token. Everything after the end is padding. This matches how
    :func:`genai_course.generation.generate_ids` trims rows, so a padded batch of its outputs gets
    exactly the original lengths back.
    """
    if responses.dim() != 2:
        raise ValueError(f"responses must be [batch, tokens], got shape {tuple(responses.shape)}.")
    batch, width = responses.shape
    positions = torch.arange(width, device=responses.device).expand(batch, width)
    big = torch.full_like(positions, width)
    if eos_token_id is not None:
        # Index of the first EOS per row (``width`` when there is none).
        first_eos = torch.where(responses == eos_token_id, positions, big).min(dim=1).values
    else:
        first_eos = big[:, 0]
    if pad_token_id is not None and pad_token_id != eos_token_id:
        # One past the last non-padding token, for rows without an EOS.
        last_real = torch.where(responses != pad_token_id, positions + 1, torch.zeros_like(positions))
        end_without_eos = last_real.max(dim=1).values
    else:
        end_without_eos = big[:, 0]
    lengths = torch.where(first_eos < width, first_eos + 1, end_without_eos)
    return lengths_mask(lengths, width).to(responses.device)


# --- masked statistics -----------------------------------------------------------------------------


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``values`` over positions where ``mask`` is 1 (over ``dim``, or over everything)."""
    mask = mask.to(values.dtype)
    if dim is None:
        total = mask.sum()
        if total == 0:
            raise ValueError("masked_mean over an empty mask: every response has length 0.")
        return (values * mask).sum() / total
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance over the masked positions, with Bessel's correction by default."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        count = mask.sum()
        if count < 2:
            raise ValueError("An unbiased variance needs at least two unmasked values.")
        var = var * count / (count - 1)
    return var


def whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True, eps: float = 1e-8) -> torch.Tensor:
    """Scale masked ``values`` to unit variance (and zero mean unless ``shift_mean`` is False).

    Whitening advantages makes the policy-gradient step size independent of the reward's scale.
    Masked positions are set to 0.
    """
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + eps)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


# --- rewards, advantages, returns ------------------------------------------------------------------


def kl_penalty_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards ``-kl_coef * (logp - ref_logp)``, plus each sequence's score on its last token.

    Returns ``(rewards, kl)``, both ``[batch, tokens]`` and zero on padding. ``kl`` is the per-token
    estimate ``logp - ref_logp`` of the KL divergence from the reference; its sum over a response is
    the sequence KL that the adaptive controller steers.
    """
    mask = mask.to(logprobs.dtype)
    lengths = mask.sum(dim=1).long()
    if (lengths == 0).any():
        raise ValueError("Every response needs at least one token to receive its score.")
    if scores.shape != (logprobs.shape[0],):
        raise ValueError(f"scores must be [batch]={logprobs.shape[0]}, got shape {tuple(scores.shape)}.")
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    rows = torch.arange(len(lengths), device=rewards.device)
    rewards[rows, lengths - 1] += scores.to(rewards.dtype)
    return rewards, kl


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over each response; returns ``(advantages, returns)``.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` and ``A_t = delta_t + gamma * lam * A_{t+1}``, with
    ``V`` and ``A`` taken as 0 after the last response token. ``returns = advantages + values`` is the
    value head's regression target.
    """
    mask = mask.to(values.dtype)
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(values)
    next_value = torch.zeros_like(values[:, 0])
    next_advantage = torch.zeros_like(values[:, 0])
    for t in reversed(range(values.shape[1])):
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        next_advantage = (delta + gamma * lam * next_advantage) * mask[:, t]
        advantages[:, t] = next_advantage
        next_value = values[:, t]
    return advantages, (advantages + values) * mask


# --- losses ----------------------------------------------------------------------------------------


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped surrogate loss ``mean(max(-A * r, -A * clip(r, 1 - eps, 1 + eps)))``.

    ``r = exp(logp - old_logp)`` is the probability ratio to the policy that sampled the data.
    Clipping removes the incentive to move a token's probability further than ``1 ± cliprange``
    in one update. Returns the loss and stats: ``clipfrac`` (share of tokens where clipping was
    active), ``approx_kl`` (``0.5 * mean((logp - old_logp)^2)``) and ``ratio`` (mean ratio).
    """
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    stats = {
        "clipfrac": masked_mean((clipped > unclipped).float(), mask).detach(),
        "approx_kl": (0.5 * masked_mean(log_ratio**2, mask)).detach(),
        "ratio": masked_mean(ratio, mask).detach(),
    }
    return loss, stats


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float = 0.2,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss ``0.5 * mean(max((V - R)^2, (V_clip - R)^2))``.

    ``V_clip`` keeps the new value within ``± cliprange_value`` of the value at sampling time, the
    same trust region for the critic as the policy gets. Returns the loss and ``vf_clipfrac``.
    """
    clipped_values = old_values + torch.clamp(values - old_values, -cliprange_value, cliprange_value)
    unclipped_err = (values - returns) ** 2
    clipped_err = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped_err, clipped_err), mask)
    return loss, {"vf_clipfrac": masked_mean((clipped_err > unclipped_err).float(), mask).detach()}


# --- KL coefficient --------------------------------------------------------------------------------


@dataclass
class FixedKLController:
    """A constant KL coefficient ``value``."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> float:
        return self.value


@dataclass
class AdaptiveKLController:
    """The adaptive KL coefficient of Ziegler et al. (2019), as in the course's trl.

    After each batch: ``value *= 1 + clip(kl / target - 1, -0.2, 0.2) * n_steps / horizon``. The
    coefficient grows while the policy drifts further than ``target`` nats from the reference and
    shrinks while it stays closer, so the KL hovers near the target over ``horizon`` samples.
    """

    value: float = 0.2
    target: float = 6.0
    horizon: int = 10_000

    def __post_init__(self) -> None:
        if self.value < 0 or self.target <= 0 or self.horizon <= 0:
            raise ValueError(
                f"AdaptiveKLController needs value >= 0, target > 0 and horizon > 0; got value={self.value}, "
                f"target={self.target}, horizon={self.horizon}."
            )

    def update(self, current_kl: float, n_steps: int) -> float:
        """Move the coefficient after a batch of ``n_steps`` samples whose mean KL was ``current_kl``."""
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon
        return self.value
