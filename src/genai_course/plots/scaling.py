"""Figures for Lab 4's scaling laws: loss against parameters, tokens and compute, and iso-FLOP curves.

Each function draws a new figure and returns it. Inputs are the grid's points
(:class:`genai_course.scaling_grid.GridPoint`) and a fitted :class:`genai_course.scaling_law.ScalingLaw`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from genai_course.scaling_grid import GridPoint
from genai_course.scaling_law import ScalingLaw, iso_flop_curve


def _check(points: Sequence[GridPoint]) -> None:
    if not points:
        raise ValueError("No grid points to plot: run run_grid(world) first.")


def _sizes(points: Sequence[GridPoint]) -> list[int]:
    return sorted({p.params for p in points})


def _budgets(points: Sequence[GridPoint]) -> list[int]:
    return sorted({p.tokens for p in points})


def _loss_lines(points: Sequence[GridPoint], along: str, law: ScalingLaw | None, title: str) -> Figure:
    """Validation loss against ``along`` ("params" or "tokens", log scale), one line per value of the
    other; the law's prediction dashed beside each line."""
    _check(points)
    other = "tokens" if along == "params" else "params"
    xs = _sizes(points) if along == "params" else _budgets(points)
    fine = np.geomspace(xs[0], xs[-1], 50)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, fixed in enumerate(_budgets(points) if along == "params" else _sizes(points)):
        row = sorted((getattr(p, along), p.val_loss) for p in points if getattr(p, other) == fixed)
        if along == "params":
            label = f"D = {fixed / 1e3:.0f}k tokens"
        else:
            label = f"{next(p.shape for p in points if p.params == fixed)} (N = {fixed / 1e3:.0f}k)"
        ax.plot(*zip(*row), "o-", color=f"C{i}", label=label)
        if law is not None:
            predicted = law.loss(fine, fixed) if along == "params" else law.loss(fixed, fine)
            ax.plot(fine, predicted, "--", color=f"C{i}", alpha=0.6)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N" if along == "params" else "training tokens D (one pass)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title(title + (" (dashed: fitted law)" if law else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_vs_params(points: Sequence[GridPoint], law: ScalingLaw | None = None) -> Figure:
    """Validation loss against parameters N (log scale), one line per data budget; the law dashed."""
    return _loss_lines(points, "params", law, "Loss falls with model size")


def plot_loss_vs_tokens(points: Sequence[GridPoint], law: ScalingLaw | None = None) -> Figure:
    """Validation loss against training tokens D (log scale), one line per model size; the law dashed."""
    return _loss_lines(points, "tokens", law, "Loss falls with data")


def plot_scaling_law(points: Sequence[GridPoint], law: ScalingLaw) -> list[Figure]:
    """The grid against the fitted law three ways: loss against parameters, against tokens and against
    compute (:func:`plot_loss_vs_params`, :func:`plot_loss_vs_tokens`, :func:`plot_loss_vs_compute`)."""
    return [plot_loss_vs_params(points, law), plot_loss_vs_tokens(points, law), plot_loss_vs_compute(points, law)]


def compute_frontier(points: Sequence[GridPoint]) -> list[GridPoint]:
    """The points no cheaper point beats: the lowest loss reached at each compute so far."""
    frontier, best = [], np.inf
    for p in sorted(points, key=lambda p: p.flops):
        if p.val_loss < best:
            frontier.append(p)
            best = p.val_loss
    return frontier


def plot_loss_vs_compute(points: Sequence[GridPoint], law: ScalingLaw | None = None) -> Figure:
    """Every point's loss against its compute C = 6·N·D, coloured by size, with the frontier of the
    best loss per compute; with ``law``, the loss the law predicts for the compute-optimal model."""
    _check(points)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, n in enumerate(_sizes(points)):
        row = [(p.flops, p.val_loss) for p in points if p.params == n]
        shape = next(p.shape for p in points if p.params == n)
        ax.scatter(*zip(*row), color=f"C{i}", label=shape, zorder=3)
    frontier = compute_frontier(points)
    ax.step([p.flops for p in frontier], [p.val_loss for p in frontier], "k-", where="post", lw=1, label="frontier")
    if law is not None:
        c = np.geomspace(min(p.flops for p in points), max(p.flops for p in points), 50)
        optimal = [law.loss(*law.compute_optimal(x)) for x in c]
        ax.plot(c, optimal, "k--", alpha=0.6, label="law, compute-optimal N*")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6·N·D (FLOPs)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title("Loss against compute")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_iso_flops(
    law: ScalingLaw,
    budgets: Sequence[float],
    n_range: tuple[float, float],
    points: Sequence[GridPoint] = (),
    highlight: float | None = None,
) -> Figure:
    """The law's loss against N at each fixed compute (D = C/6N), the compute-optimal N* marked on each;
    ``highlight`` (one of ``budgets``) is drawn bold with N* and D* written out; grid sizes as ticks."""
    if not budgets:
        raise ValueError("Give at least one compute budget (FLOPs) for the iso-FLOP curves.")
    fig, ax = plt.subplots(figsize=(6, 4))
    n = np.geomspace(*n_range, 200)
    for i, c in enumerate(sorted(budgets)):
        bold = highlight is not None and np.isclose(c, highlight)
        ax.plot(n, iso_flop_curve(law, c, n), color=f"C{i}", lw=2.5 if bold else 1.2, label=f"C = {c:.1e}")
        n_star, d_star = law.compute_optimal(c)
        ax.plot(n_star, law.loss(n_star, d_star), "*", color=f"C{i}", ms=14 if bold else 9, mec="k")
        if bold:
            ax.annotate(
                f"N* = {n_star / 1e3:.0f}k, D* = {d_star / 1e3:.0f}k\n{d_star / n_star:.1f} tokens/parameter",
                (n_star, law.loss(n_star, d_star)),
                textcoords="offset points",
                xytext=(10, 12),
                fontsize=8,
            )
    for size in sorted({p.params for p in points}):
        ax.axvline(size, color="gray", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N (dotted: the grid's sizes)")
    ax.set_ylabel("predicted loss")
    ax.set_title("Iso-FLOP curves: at a fixed budget, the best model size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
