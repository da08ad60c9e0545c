"""PPO's tensor arithmetic against values worked out by hand."""

import math

import pytest
import torch

from genai_course.rlhf.core import (
    AdaptiveKLController,
    FixedKLController,
    gae,
    kl_penalty_rewards,
    lengths_mask,
    masked_mean,
    masked_var,
    policy_loss,
    response_mask,
    value_loss,
    whiten,
)


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


# --- masks -----------------------------------------------------------------------------------------


def test_response_mask_ends_at_first_eos_and_ignores_padding():
    eos, pad = 1, 0
    responses = torch.tensor(
        [
            [5, 6, 1, 0, 0],  # EOS at 2: three real tokens, EOS included
            [5, 1, 0, 0, 0],
            [5, 6, 7, 8, 9],  # no EOS, no padding: all five
            [5, 6, 0, 0, 0],  # no EOS (cut by max_new_tokens in a shorter batch): up to the last real token
            [1, 0, 0, 0, 0],  # stopped at once
            [5, 1, 7, 1, 0],  # only the first EOS ends the response
        ]
    )
    mask = response_mask(responses, eos, pad)
    assert mask.sum(dim=1).tolist() == [3, 2, 5, 2, 1, 2]
    assert mask[0].tolist() == [1, 1, 1, 0, 0]
    assert mask[5].tolist() == [1, 1, 0, 0, 0]


def test_response_mask_when_pad_and_eos_are_the_same_token():
    # GPT-2 style tokenizers pad with EOS: the first EOS is the end, the rest is padding.
    mask = response_mask(torch.tensor([[5, 1, 1, 1], [5, 6, 7, 1]]), eos_token_id=1, pad_token_id=1)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


def test_lengths_mask_and_round_trip_with_response_mask():
    assert lengths_mask([2, 0, 3]).tolist() == [[1, 1, 0], [0, 0, 0], [1, 1, 1]]
    with pytest.raises(ValueError, match=">= 0"):
        lengths_mask([1, -1])


# --- masked statistics and whitening ----------------------------------------------------------------


def test_masked_mean_and_var_skip_padding():
    values, mask = t([[1, 2, 3, 100]]), t([[1, 1, 1, 0]])
    assert masked_mean(values, mask).item() == pytest.approx(2.0)
    assert masked_var(values, mask).item() == pytest.approx(1.0)  # unbiased: ((1)+(0)+(1)) / 2
    assert masked_var(values, mask, unbiased=False).item() == pytest.approx(2 / 3)
    assert masked_mean(t([[1, 3], [5, 7]]), t([[1, 0], [1, 1]]), dim=1).tolist() == [1.0, 6.0]
    with pytest.raises(ValueError, match="empty mask"):
        masked_mean(values, torch.zeros_like(values))


def test_whiten_hand_computed():
    whitened = whiten(t([[1, 2, 3, 4]]), t([[1, 1, 1, 1]]))
    expected = [(x - 2.5) / math.sqrt(5 / 3) for x in (1, 2, 3, 4)]
    assert whitened[0].tolist() == pytest.approx(expected, abs=1e-5)
    masked = whiten(t([[1, 2, 3, 100]]), t([[1, 1, 1, 0]]))
    assert masked[0].tolist() == pytest.approx([-1.0, 0.0, 1.0, 0.0], abs=1e-5)
    kept_mean = whiten(t([[1, 2, 3, 100]]), t([[1, 1, 1, 0]]), shift_mean=False)
    assert kept_mean[0].tolist() == pytest.approx([1.0, 2.0, 3.0, 0.0], abs=1e-5)


# --- rewards and GAE ---------------------------------------------------------------------------------


def test_kl_penalty_rewards_put_the_score_on_the_last_real_token():
    logprobs, ref = t([[-1, -2, -3], [-1, -2, -3]]), t([[-1.5, -2, -2], [-1.5, -2, -2]])
    mask = t([[1, 1, 1], [1, 1, 0]])
    rewards, kl = kl_penalty_rewards(t([5, 7]), logprobs, ref, mask, kl_coef=0.1)
    assert torch.allclose(kl, t([[0.5, 0, -1], [0.5, 0, 0]]))
    assert rewards[0].tolist() == pytest.approx([-0.05, 0.0, 0.1 + 5])
    assert rewards[1].tolist() == pytest.approx([-0.05, 7.0, 0.0])
    with pytest.raises(ValueError, match="at least one token"):
        kl_penalty_rewards(t([5]), t([[-1.0]]), t([[-1.0]]), t([[0]]), kl_coef=0.1)


def test_gae_hand_computed():
    rewards, values = t([[1, 2, 3], [1, 2, 99]]), t([[0.5, 1.0, 1.5], [0.5, 1.0, 7.0]])
    mask = t([[1, 1, 1], [1, 1, 0]])
    advantages, returns = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # Row 0: deltas 1.5, 2.5, 1.5 -> A2 = 1.5, A1 = 2.5 + 0.5*1.5, A0 = 1.5 + 0.5*3.25.
    assert advantages[0].tolist() == pytest.approx([3.125, 3.25, 1.5])
    assert returns[0].tolist() == pytest.approx([3.625, 4.25, 3.0])
    # Row 1 ends after two tokens: the padded reward 99 and value 7 must not leak in.
    assert advantages[1].tolist() == pytest.approx([2.0, 1.0, 0.0])
    assert returns[1].tolist() == pytest.approx([2.5, 2.0, 0.0])


def test_gae_with_lambda_one_gives_reward_to_go_as_returns():
    torch.manual_seed(0)
    rewards, values = torch.randn(3, 5), torch.randn(3, 5)
    mask = lengths_mask([5, 3, 1], 5)
    _, returns = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    reward_to_go = torch.flip(torch.cumsum(torch.flip(rewards * mask, [1]), 1), [1]) * mask
    assert torch.allclose(returns, reward_to_go, atol=1e-5)


def test_gae_discounting():
    advantages, _ = gae(t([[0, 0, 1]]), t([[0, 0, 0]]), t([[1, 1, 1]]), gamma=0.5, lam=1.0)
    assert advantages[0].tolist() == pytest.approx([0.25, 0.5, 1.0])


# --- losses ----------------------------------------------------------------------------------------


def test_policy_loss_clips_only_where_it_removes_the_incentive():
    # Ratios 1.5, 0.5, 1.5, 0.5 with advantages +1, +1, -1, -1 and clip 0.2:
    # -1.5 vs -1.2 -> -1.2 (clipped); -0.5 vs -0.8 -> -0.5; 1.5 vs 1.2 -> 1.5; 0.5 vs 0.8 -> 0.8 (clipped)
    old = torch.zeros(1, 4)
    new = torch.log(t([[1.5, 0.5, 1.5, 0.5]]))
    loss, stats = policy_loss(new, old, t([[1, 1, -1, -1]]), torch.ones(1, 4), cliprange=0.2)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 1.5 + 0.8) / 4)
    assert stats["clipfrac"].item() == pytest.approx(0.5)
    assert stats["ratio"].item() == pytest.approx(1.0)


def test_policy_loss_ignores_padding_and_has_the_policy_gradient_at_ratio_one():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    advantages, mask = t([[2.0, -1.0, 50.0]]), t([[1, 1, 0]])
    loss, stats = policy_loss(logprobs, logprobs.detach(), advantages, mask)
    loss.backward()
    # At ratio 1 the gradient is -A / n_tokens on real tokens and 0 on padding.
    assert logprobs.grad[0].tolist() == pytest.approx([-1.0, 0.5, 0.0])
    assert stats["clipfrac"].item() == 0.0 and stats["approx_kl"].item() == 0.0


def test_value_loss_hand_computed():
    values, old, returns = t([[1.5, 1.1, 9.0]]), t([[1.0, 1.0, 0.0]]), t([[2.0, 0.0, 0.0]])
    loss, stats = value_loss(values, old, returns, t([[1, 1, 0]]), cliprange_value=0.2)
    # Token 0: clipped value 1.2 -> max(0.25, 0.64); token 1: inside the clip range -> 1.21.
    assert loss.item() == pytest.approx(0.5 * (0.64 + 1.21) / 2)
    assert stats["vf_clipfrac"].item() == pytest.approx(0.5)


# --- KL controller ---------------------------------------------------------------------------------


def test_adaptive_kl_controller_update():
    above = AdaptiveKLController(0.2, target=6.0, horizon=10_000)
    assert above.update(12.0, n_steps=32) == pytest.approx(0.2 * (1 + 0.2 * 32 / 10_000))  # error clipped at +0.2
    below = AdaptiveKLController(0.2, target=6.0, horizon=10_000)
    assert below.update(3.0, n_steps=32) == pytest.approx(0.2 * (1 - 0.2 * 32 / 10_000))  # -0.5 clipped to -0.2
    near = AdaptiveKLController(0.2, target=6.0, horizon=10_000)
    assert near.update(6.6, n_steps=32) == pytest.approx(0.2 * (1 + 0.1 * 32 / 10_000))
    assert near.value == pytest.approx(0.2 * (1 + 0.1 * 32 / 10_000))  # the update is kept
    assert FixedKLController(0.3).update(100.0, 32) == 0.3
    with pytest.raises(ValueError, match="target > 0"):
        AdaptiveKLController(0.2, target=0)
