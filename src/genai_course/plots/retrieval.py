"""Figures for Lab 5's knowledge cut-off: where the answers come from, and what the number of retrieved
passages does to retrieval recall and to the answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

SOURCES = ("current", "stale", "planted", "other")
SOURCE_LABELS = {
    "current": "the current fact",
    "stale": "the fact before the cut-off",
    "planted": "the wrong passage's value",
    "other": "something else",
}


def plot_answer_sources(shares: Mapping[str, Mapping[str, float]], *, title: str | None = None) -> Figure:
    """One stacked bar per condition (closed book, with retrieval, with a wrong passage): the share of
    answers that are the current fact, the stale one, the planted wrong value or anything else."""
    if not shares:
        raise ValueError("No answers to plot: pass {condition: {source: share}}.")
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    names = list(shares)
    bottom = np.zeros(len(names))
    for i, source in enumerate(SOURCES):
        values = np.array([shares[n].get(source, 0.0) for n in names])
        ax.bar(names, values, bottom=bottom, color=f"C{i}", label=SOURCE_LABELS[source])
        for x, (v, b) in enumerate(zip(values, bottom)):
            if v >= 0.06:
                ax.text(x, b + v / 2, f"{v:.0%}", ha="center", va="center", fontsize=8, color="white")
        bottom += values
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of answers")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    ax.set_title(title or "What the answers are, per prompt")
    fig.tight_layout()
    return fig


def plot_k_curve(
    ks: Sequence[int], exact: Sequence[float], recall: Sequence[float], closed_book: float, *, title: str | None = None
) -> Figure:
    """Exact match and recall@k against the number of passages k, with the closed-book exact match."""
    if not (len(ks) == len(exact) == len(recall)) or not ks:
        raise ValueError("ks, exact and recall must be non-empty and of the same length.")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(ks, recall, marker="s", color="C2", label="recall@k (the right passage is among the k)")
    ax.plot(ks, exact, marker="o", color="C0", label="exact match with the current fact")
    ax.axhline(closed_book, color="C3", linestyle="--", label="exact match, closed book")
    ax.set_xticks(list(ks))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("passages retrieved into the prompt (k)")
    ax.set_ylabel("share of questions")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Retrieval: how many passages?")
    fig.tight_layout()
    return fig


__all__ = ["plot_answer_sources", "plot_k_curve"]
