"""Figures for Lab 4's continued pre-training: the new domain's scores per model, with the gain's interval.

Each function draws a new figure and returns it (see :mod:`genai_course.plots.finetuning`).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

RUNS = {
    "base": ("base model", "tab:gray"),
    "pretrained": ("continued pre-training only", "silver"),
    "finetuned": ("fine-tuned", "tab:blue"),
    "pretrained_finetuned": ("continued pre-training, then fine-tuned", "tab:green"),
}
METRICS = {"rouge1": "ROUGE-1", "slot_recall": "facts stated (slot recall)"}


def plot_domain_scores(scores: Mapping[str, Mapping[str, float]], gain: Mapping[str, float] | None = None) -> Figure:
    """Grouped bars: for each metric, one bar per run in ``scores`` ({run: {metric: value}}); ``gain`` (a
    :func:`genai_course.metrics.bootstrap_change` result) is drawn as an error bar on the last run's ROUGE-1."""
    runs = [run for run in RUNS if run in scores]
    if not runs:
        raise ValueError(f"No scores to plot; expected some of {', '.join(RUNS)}.")
    fig, ax = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        label, color = RUNS[run]
        x = np.arange(len(METRICS)) + (i - (len(runs) - 1) / 2) * width
        values = [scores[run][metric] for metric in METRICS]
        bars = ax.bar(x, values, width, label=label, color=color)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    if gain is not None and runs[-1] == "pretrained_finetuned":
        top = scores[runs[-1]]["rouge1"]
        x = (len(runs) - 1) / 2 * width
        ax.errorbar(
            [x], [top], yerr=[[gain["change"] - gain["ci_low"]], [gain["ci_high"] - gain["change"]]], color="black"
        )
    ax.set_xticks(np.arange(len(METRICS)), list(METRICS.values()))
    ax.set_ylim(0, 1.05)
    ax.set_title("A domain the model never read: the same labeled examples, with and without unlabeled text")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig
