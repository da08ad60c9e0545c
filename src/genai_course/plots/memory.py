"""Figure for Lab 4's memory section: the course's formula next to the measured memory, case by case.

Takes the rows of :func:`genai_course.memory_measure.footprint_table` (plain dicts, as the lab records them),
or the measured cases themselves (:class:`genai_course.memory_measure.Measured`), tabled first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from genai_course.memory_measure import Measured, footprint_table

UNITS = {"MiB": 1.0, "GiB": 1 / 1024}
NEEDED = ("case", "formula_total_mib", "measured_total_mib")


def plot_memory(
    rows: Sequence[Mapping] | Sequence[Measured],
    *,
    unit: str = "MiB",
    title: str = "Memory: the rule of thumb vs measured",
) -> Figure:
    """Paired bars per case (formula, measured peak), the measured/formula ratio above each pair."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}.")
    if not rows:
        raise ValueError("No rows to plot: measure some cases first (memory.measure_footprint).")
    if all(isinstance(row, Measured) for row in rows):
        rows = footprint_table(rows)
    missing = [key for key in NEEDED if any(key not in row for row in rows)]
    if missing:
        raise ValueError(f"Rows lack {missing}; pass memory.footprint_table(...) rows.")
    scale = UNITS[unit]
    labels = [f"{row['model']}\n{row['case']}" if "model" in row else row["case"] for row in rows]
    formula = np.array([row["formula_total_mib"] for row in rows]) * scale
    measured = np.array([row["measured_total_mib"] for row in rows]) * scale
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(1.4 * len(rows) + 2, 4))
    ax.bar(x - 0.2, formula, 0.4, label="formula", color="tab:gray")
    bars = ax.bar(x + 0.2, measured, 0.4, label="measured peak", color="tab:blue")
    ratios = [f"{m / f:.2f}x" if f > 0 else "" for m, f in zip(measured, formula)]
    ax.bar_label(bars, labels=ratios, fontsize=8, padding=2)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel(unit)
    ax.set_ylim(0, max(formula.max(), measured.max()) * 1.2)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


__all__ = ["plot_memory"]
