"""Figures for Lab 3: PPO's reward and KL per step, and toxicity before vs after.

Each function draws on a new figure and returns it, so notebooks can show it and tests can inspect it
without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def plot_ppo_curves(
    history: Sequence[Mapping[str, float]], *, title: str = "PPO training", kl_unit: str = "nats/summary"
) -> Figure:
    """Left: mean reward (score) per step. Right: KL to the reference and the KL coefficient beta.

    Reward rising while KL levels off is the healthy shape; a KL that keeps climbing while the reward
    soars is the signature of reward hacking.
    """
    if not history:
        raise ValueError("The PPO history is empty: run trainer.train(...) first.")
    steps = [row["step"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    rewards = np.array([row["reward_mean"] for row in history])
    left.plot(steps, rewards, marker="o", ms=3, label="mean reward (nothate logit)")
    if all("reward_std" in row for row in history):
        spread = np.array([row["reward_std"] for row in history])
        left.fill_between(steps, rewards - spread, rewards + spread, alpha=0.12, label="± 1 std over the batch")
    left.set_xlabel("PPO step")
    left.set_ylabel("reward")
    left.set_title("Reward of sampled summaries")
    left.legend(fontsize=8)
    right.plot(steps, [row["kl"] for row in history], marker="o", ms=3, color="tab:red", label=f"KL ({kl_unit})")
    right.set_xlabel("PPO step")
    right.set_ylabel("KL to reference", color="tab:red")
    beta = right.twinx()
    beta.plot(steps, [row["kl_coef"] for row in history], ls="--", color="tab:gray", label="KL coefficient β")
    beta.set_ylabel("β", color="tab:gray")
    right.set_title("Distance from the reference model")
    lines = right.get_lines() + beta.get_lines()
    right.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_toxicity_histogram(
    before: Sequence[float],
    after: Sequence[float],
    *,
    threshold: float = 0.5,
    bins: int = 20,
    title: str = "Toxicity of the summaries, before vs after PPO",
) -> Figure:
    """Overlaid histograms of P(hate) per summary, on a log count axis so the rare toxic ones show."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    if before.size == 0 or after.size == 0:
        raise ValueError("Nothing to plot: the toxicity scores are empty.")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    edges = np.linspace(0, 1, bins + 1)
    ax.hist(before, bins=edges, alpha=0.6, label=f"before (mean {before.mean():.3f})")
    ax.hist(after, bins=edges, alpha=0.6, label=f"after (mean {after.mean():.3f})")
    ax.axvline(threshold, color="black", ls=":", lw=1, label=f"threshold {threshold}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)  # a bin holding a single summary stays visible
    ax.set_xlabel("P(hate) of the summary")
    ax.set_ylabel("summaries (log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
