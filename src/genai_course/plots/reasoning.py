"""Figure for Lab 5's multi-step questions: accuracy per answer form, with 95% intervals."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

FORM_LABELS = {"direct": "direct answer", "cot": "chain-of-thought", "program": "program-aided"}


def plot_answer_forms(
    accuracy: Mapping[str, Mapping[str, tuple[float, float, float]]], *, title: str | None = None
) -> Figure:
    """Grouped bars: per question family, the accuracy of each answer form as (mean, low, high)."""
    if not accuracy or not all(accuracy.values()):
        raise ValueError("No accuracies to plot: pass {family: {form: (mean, low, high)}}.")
    families = list(accuracy)
    forms = [f for f in FORM_LABELS if any(f in accuracy[family] for family in families)]
    width = 0.8 / len(forms)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for i, form in enumerate(forms):
        xs = [x + (i - (len(forms) - 1) / 2) * width for x, family in enumerate(families) if form in accuracy[family]]
        values = [accuracy[family][form] for family in families if form in accuracy[family]]
        means = np.array([v[0] for v in values])
        errors = np.array([[m - v[1] for m, v in zip(means, values)], [v[2] - m for m, v in zip(means, values)]])
        ax.bar(xs, means, width, yerr=errors, capsize=3, color=f"C{i}", label=FORM_LABELS[form])
        for x, m in zip(xs, means):
            ax.text(x, m + 0.02, f"{m:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(families)), families)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy on held-out questions")
    ax.legend(fontsize=8)
    ax.set_title(title or "Multi-step questions: how the model answers")
    fig.tight_layout()
    return fig


__all__ = ["plot_answer_forms"]
