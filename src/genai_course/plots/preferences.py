"""Figures for Lab 3's reward model: held-out pairwise accuracy and margin against label noise.

Inputs are the rows :func:`genai_course.rlhf.reward_training.noise_curve` returns, one curve per
training set (e.g. few and many labelled pairs), so the figure shows that noise costs most when
labels are few.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

CURVE_KEYS = ("noise", "accuracy", "ci_low", "ci_high", "mean_margin")


def plot_noise_curve(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    *,
    title: str = "Reward model vs label noise (held-out pairs)",
) -> Figure:
    """Left: pairwise accuracy with its 95% bootstrap interval per noise level; right: the mean margin
    reward(chosen) - reward(rejected). One line per curve (the dict's keys label them)."""
    if not curves or not all(curves.values()):
        raise ValueError("No noise curve to plot: run rlhf.reward_training.noise_curve first.")
    missing = sorted({k for rows in curves.values() for row in rows for k in CURVE_KEYS if k not in row})
    if missing:
        raise ValueError(f"The curve rows lack {missing}; pass the rows noise_curve returns.")
    fig, (acc_ax, margin_ax) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, rows) in enumerate(curves.items()):
        noise = np.array([row["noise"] for row in rows])
        accuracy = np.array([row["accuracy"] for row in rows])
        errors = [accuracy - [row["ci_low"] for row in rows], [row["ci_high"] for row in rows] - accuracy]
        acc_ax.errorbar(noise, accuracy, yerr=errors, marker="o", capsize=3, color=f"C{i}", label=name)
        margin_ax.plot(noise, [row["mean_margin"] for row in rows], marker="o", color=f"C{i}", label=name)
    acc_ax.axhline(0.5, color="gray", linestyle=":", linewidth=1)
    acc_ax.annotate("chance", (0, 0.5), xytext=(2, 3), textcoords="offset points", fontsize=8, color="gray")
    acc_ax.set_ylim(0.4, 1.02)
    acc_ax.set_ylabel("pairwise accuracy")
    margin_ax.set_ylabel("mean margin (reward units)")
    margin_ax.set_yscale("symlog", linthresh=1e-3)  # margins span 1e-3 (few labels) to ~5
    for ax in (acc_ax, margin_ax):
        ax.set_xlabel("share of flipped labels asked for (noise)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["plot_noise_curve"]
