"""Figures for Lab 1: ROUGE per prompting strategy, and ROUGE versus the number of shots.

Each function draws on a new figure (or the axes given) and returns the figure, so notebooks can show
it and tests can inspect it without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def plot_rouge_by_strategy(
    table: Mapping[str, Mapping[str, float]],
    *,
    metrics: Sequence[str] = ROUGE_KEYS,
    title: str = "ROUGE by prompting strategy",
    ax: plt.Axes | None = None,
) -> Figure:
    """Grouped bars: one group per strategy, one bar per ROUGE type, values written on the bars."""
    if not table:
        raise ValueError("The ROUGE table is empty: run the strategies first.")
    missing = [(name, m) for name, row in table.items() for m in metrics if m not in row]
    if missing:
        raise ValueError(f"The ROUGE table lacks {missing[:3]}; expected keys {list(metrics)} per strategy.")
    fig, ax = _figure(ax, size=(1.6 * len(table) + 2, 4))
    names = list(table)
    x = np.arange(len(names))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = [table[name][metric] for name in names]
        bars = ax.bar(x + (i - (len(metrics) - 1) / 2) * width, values, width, label=metric)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, [name.replace("_", " ") for name in names])
    ax.set_ylabel("F-measure")
    ax.set_ylim(0, min(1.0, max(max(row[m] for m in metrics) for row in table.values()) * 1.2 + 0.05))
    ax.set_title(title)
    ax.legend(ncols=len(metrics), fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_shots_curve(
    curve: Sequence[Mapping],
    context_window: int,
    *,
    title: str = "More shots: ROUGE and prompt length",
) -> Figure:
    """Left: ROUGE-1 and ROUGE-L versus shots. Right: the longest prompt versus the context window.

    ``curve`` is the list recorded as ``shots_curve`` (keys shots, rouge1, rougeL, prompt_tokens_max,
    fits); points whose prompts did not fit are drawn hollow: their shots were partly dropped.
    """
    if not curve:
        raise ValueError("The shots curve is empty: run shot_strategies() first.")
    shots = [p["shots"] for p in curve]
    fits = np.array([bool(p["fits"]) for p in curve])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for metric, marker in (("rouge1", "o"), ("rougeL", "s")):
        values = np.array([p[metric] for p in curve])
        (line,) = left.plot(shots, values, marker=marker, label=metric)
        # Hollow markers where the prompt overflowed and shots had to be dropped.
        left.scatter(
            np.array(shots)[~fits],
            values[~fits],
            s=90,
            facecolors="white",
            edgecolors=line.get_color(),
            zorder=3,
            marker=marker,
        )
    left.set_xlabel("shots in the prompt")
    left.set_ylabel("F-measure")
    left.set_xticks(shots)
    left.set_ylim(0, min(1.0, max(max(p["rouge1"], p["rougeL"]) for p in curve) * 1.15 + 0.02))
    left.set_title("ROUGE (hollow: shots dropped to fit)")
    left.legend()
    tokens = [p["prompt_tokens_max"] for p in curve]
    colors = ["tab:green" if ok else "tab:red" for ok in fits]
    right.bar([str(k) for k in shots], tokens, color=colors)
    right.axhline(context_window, color="black", linestyle="--", label=f"context window ({context_window})")
    right.set_xlabel("shots in the prompt")
    right.set_ylabel("tokens in the longest prompt")
    right.set_title("Prompt length (red: over the window)")
    right.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _figure(ax: plt.Axes | None, size: tuple[float, float]) -> tuple[Figure, plt.Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size)
    return fig, ax
