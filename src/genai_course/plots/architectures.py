"""Figures for Lab 4's transformer families: where each family's parameters are, and what T5's decoder
reads from the input while it writes.

Each function draws a new figure and returns it (no display needed); inputs are what
``genai_course.architectures`` returns.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from genai_course.architectures import COMPONENTS, CrossAttention

COMPONENT_COLORS = {
    "embeddings": "tab:blue",
    "attention": "tab:orange",
    "cross_attention": "tab:red",
    "feed_forward": "tab:green",
    "norms": "tab:gray",
    "head": "tab:purple",
}
SHARE_LABEL_MIN = 4.0  # percent: thinner segments get no label (it would not fit)
WORD_START = ("▁", "Ġ")  # SentencePiece / Metaspace and byte-level BPE word-start marks


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e7 else f"{n / 1e6:.2f}M"


def plot_parameter_breakdown(
    counts: Mapping[str, Mapping[str, int]], *, title: str = "Where the parameters are"
) -> Figure:
    """Stacked bars, one per family: each component's share of the family's parameters (total below)."""
    if not counts:
        raise ValueError("No parameter counts to plot: pass {family: parameter_count(model)}.")
    components = [c for c in COMPONENTS if any(c in row for row in counts.values())]
    components += sorted({c for row in counts.values() for c in row} - set(components))
    totals = {name: sum(row.values()) for name, row in counts.items()}
    empty = [name for name, total in totals.items() if total <= 0]
    if empty:
        raise ValueError(f"Families with no parameters: {empty}.")
    fig, ax = plt.subplots(figsize=(1.8 * len(counts) + 3.5, 4.5))
    x = np.arange(len(counts))
    bottom = np.zeros(len(counts))
    for i, component in enumerate(components):
        shares = np.array([100.0 * row.get(component, 0) / totals[name] for name, row in counts.items()])
        bars = ax.bar(x, shares, 0.6, bottom=bottom, label=component, color=COMPONENT_COLORS.get(component, f"C{i}"))
        labels = [f"{s:.0f}%" if s >= SHARE_LABEL_MIN else "" for s in shares]
        ax.bar_label(bars, labels=labels, label_type="center", fontsize=8, color="white")
        bottom += shares
    ax.set_xticks(x, [f"{name}\n{_millions(totals[name])}" for name in counts])
    ax.set_ylabel("share of parameters (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _readable(token: str) -> str:
    """A token as a tick label: word-start marks dropped, blank tokens shown as "␣"."""
    for mark in WORD_START:
        token = token.replace(mark, "")
    return token or "␣"


def plot_cross_attention(attention: CrossAttention, *, title: str | None = None) -> Figure:
    """Heatmap of ``attention.matrix``: input tokens on x, the output tokens written on y."""
    matrix = np.asarray(attention.matrix)
    n_out, n_in = len(attention.output_tokens), len(attention.input_tokens)
    if matrix.shape != (n_out, n_in):
        raise ValueError(f"The matrix is {matrix.shape}, but there are {n_out} output and {n_in} input tokens.")
    # Size and font follow the token counts, so a 200-token prompt still gets one legible label per token.
    fig, ax = plt.subplots(figsize=(float(np.clip(0.13 * n_in + 2, 6, 26)), float(np.clip(0.2 * n_out + 2, 3, 14))))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xticks(np.arange(n_in), [_readable(t) for t in attention.input_tokens], rotation=90)
    ax.set_yticks(np.arange(n_out), [_readable(t) for t in attention.output_tokens])
    ax.tick_params(axis="x", labelsize=float(np.clip(600 / max(n_in, 1), 5, 9)))
    ax.tick_params(axis="y", labelsize=float(np.clip(300 / max(n_out, 1), 5, 9)))
    ax.set_xlabel("input token (encoder)")
    ax.set_ylabel("output token (decoder)")
    ax.set_title(title or "Cross-attention, mean over layers and heads")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, label="attention weight")
    fig.tight_layout()
    return fig
