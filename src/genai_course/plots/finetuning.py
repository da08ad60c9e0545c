"""Figures for Lab 2: ROUGE of original / full / LoRA, the cost of each run, loss curves, forgetting.

Each function draws a new figure and returns it, so notebooks can show it and tests can inspect it
without a display. Inputs are the dicts the lab records (see ``record_results("lab2", ...)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
MODEL_COLORS = {
    "original": "tab:gray",
    "best_prompt": "silver",
    "full": "tab:blue",
    "full_mixed": "tab:cyan",
    "lora": "tab:orange",
    "lora_off": "navajowhite",
}
MODEL_LABELS = {
    "original": "original",
    "best_prompt": "original, best prompt",
    "full": "full fine-tune",
    "full_mixed": "full + old task",
    "lora": "LoRA",
    "lora_off": "LoRA, adapter off",
}
FORGETTING_RUNS = ("original", "full", "full_mixed", "lora", "lora_off")
COST_PANELS = (
    ("trainable", "trainable parameters"),
    ("training_state_mb", "training state, measured (MiB)"),
    ("saved_mb", "saved to disk (MiB)"),
)
STATE_PARTS = ("weights", "gradients", "optimizer")


def _color(name: str, index: int) -> str:
    return MODEL_COLORS.get(name, f"C{index}")


def _label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def plot_rouge_comparison(
    rouge: Mapping[str, Mapping[str, float]],
    *,
    metrics: Sequence[str] = ROUGE_KEYS,
    title: str = "ROUGE on the test dialogues",
) -> Figure:
    """Grouped bars: one group per ROUGE type, one bar per model (original, full, LoRA), values on bars."""
    if not rouge:
        raise ValueError("The ROUGE table is empty: score the models first.")
    missing = [(name, m) for name, row in rouge.items() for m in metrics if m not in row]
    if missing:
        raise ValueError(f"The ROUGE table lacks {missing[:3]}; expected keys {list(metrics)} per model.")
    fig, ax = plt.subplots(figsize=(2.2 * len(metrics) + 1.5, 4))
    x = np.arange(len(metrics))
    width = 0.8 / len(rouge)
    for i, (name, row) in enumerate(rouge.items()):
        bars = ax.bar(
            x + (i - (len(rouge) - 1) / 2) * width,
            [row[m] for m in metrics],
            width,
            label=_label(name),
            color=_color(name, i),
        )
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, list(metrics))
    ax.set_ylabel("F-measure")
    top = max(row[m] for row in rouge.values() for m in metrics)
    ax.set_ylim(0, min(1.0, top * 1.2 + 0.05))
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def plot_cost(
    cost: Mapping[str, Mapping],
    params: Mapping[str, Mapping[str, float]],
    *,
    base_shape: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "What each fine-tuning run holds and saves",
) -> Figure:
    """Trainable parameters, the training state (weights, gradients, optimizer moments, stacked; measured
    from the tensors), the saved size, and, with ``base_shape``, the same training state for flan-t5-base
    computed from its parameter counts (GiB). The ratio of the first run to the second is in each title.

    Wall time and peak process memory are not drawn: on a 2M-parameter model they measure Python and the
    allocator more than the method; the notebook prints them.
    """
    names = list(cost)
    if not names or set(names) != set(params):
        raise ValueError(f"cost and params must name the same runs; got {sorted(cost)} and {sorted(params)}.")
    panels = list(COST_PANELS) + ([("base_shape", "flan-t5-base training state (GiB)")] if base_shape else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6))
    labels = [_label(n) for n in names]
    for ax, (key, label) in zip(axes, panels):
        if key in ("training_state_mb", "base_shape"):
            parts = [cost[n][key] for n in names] if key == "training_state_mb" else [base_shape[n] for n in names]
            scale = 1 if key == "training_state_mb" else 1 / 1024
            values = _stacked(ax, labels, parts, scale)
        else:
            source = params if key == "trainable" else cost
            values = [float(source[name][key]) for name in names]
            bars = ax.bar(labels, values, color=[_color(n, i) for i, n in enumerate(names)])
            ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=8, padding=1)
        ax.set_ylim(0, max(values) * 1.3 if max(values) > 0 else 1)
        ratio = f"  ({values[0] / values[1]:.1f}x)" if len(values) == 2 and values[1] > 0 else ""
        ax.set_title(label + ratio, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _stacked(ax, labels: list[str], parts: list[Mapping[str, float]], scale: float) -> list[float]:
    bottoms = [0.0] * len(labels)
    for index, part in enumerate(STATE_PARTS):
        heights = [float(p[part]) * scale for p in parts]
        ax.bar(labels, heights, bottom=bottoms, color=f"C{index + 2}", label=part)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    for x, total in enumerate(bottoms):
        ax.annotate(_short(total), (x, total), ha="center", va="bottom", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    return bottoms


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.3g}"


def plot_loss_curves(
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    *,
    x: str = "epoch",
    title: str = "Training loss",
) -> Figure:
    """Training loss per logged step for each run (``FinetuneResult.loss_history``), on one axis."""
    if not histories or not any(histories.values()):
        raise ValueError("No loss history to plot: train with logging_steps > 0 first.")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for i, (name, history) in enumerate(histories.items()):
        if not history:
            continue
        xs = [entry.get(x) if entry.get(x) is not None else entry["step"] for entry in history]
        ax.plot(xs, [entry["loss"] for entry in history], label=_label(name), color=_color(name, i))
    ax.set_xlabel(x)
    ax.set_ylabel("cross-entropy per summary token")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_forgetting(forgetting: Mapping[str, float | str], *, title: str | None = None) -> Figure:
    """The second task's score (e.g. topic naming) for the original model and each fine-tuned one: full,
    full with the old task mixed in, LoRA with its adapter on, and off.

    ``forgetting`` is the recorded dict: ``{"task", "metric", "original", "full", ...}``.
    """
    names = [n for n in FORGETTING_RUNS if n in forgetting]
    if "original" not in names or len(names) < 2:
        raise ValueError("forgetting needs the 'original' score and at least one fine-tuned model's score.")
    values = [float(forgetting[n]) for n in names]
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 1.5, 3.8))
    bars = ax.bar([_label(n) for n in names], values, color=[_color(n, i) for i, n in enumerate(names)])
    changes = [""] + [f"{v - values[0]:+.2f}" for v in values[1:]]
    ax.bar_label(bars, labels=[f"{v:.2f}\n{c}".strip() for v, c in zip(values, changes)], fontsize=8, padding=1)
    ax.set_ylim(0, max(1.0, max(values) * 1.25))
    ax.set_ylabel(str(forgetting.get("metric", "score")))
    task = forgetting.get("task", "second task")
    ax.set_title(title or f"Forgetting: '{task}' before and after fine-tuning", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["plot_rouge_comparison", "plot_cost", "plot_loss_curves", "plot_forgetting"]
