"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

- ``dilemma.png``: FocusOnKey recovery rate against destructive rate, one point per row of the
  table. The paper's claim (SPEC section 1) is that no method reaches the ideal corner (0, 0):
  either the knowledge comes back when the KeyTokens are emphasised, or the model is broken.
- ``keytoken_similarity.png``: how much each setting moved the model's KeyTokens.
- ``recovery_vs_step.png``: recovery rates along training; PROBAB (dashed) is the
  budget-matched random-sampling baseline the FocusOnKey curve (solid) should beat.

matplotlib is imported inside the functions so that importing the report package stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.report.table import Row, row_label

DPI = 150


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def write_plots(rows: Sequence[Row], out_dir: Path) -> list[Path]:
    """Write the three figures for ``rows`` into ``out_dir``; returns the paths written."""
    if not rows:
        return []
    colors = dict(zip([id(r) for r in rows], _colors(len(rows))))
    return [
        plot_dilemma(rows, colors, out_dir / "dilemma.png"),
        plot_keytoken_similarity(rows, colors, out_dir / "keytoken_similarity.png"),
        plot_recovery_vs_step(rows, colors, out_dir / "recovery_vs_step.png"),
    ]


def plot_dilemma(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """Scatter recovery rate (y) vs destructive rate (x), axes 0..1, ideal corner marked.

    Methods are named in a legend beside the axes rather than next to their points: the
    regularized settings usually sit close together, and labels printed at the points
    overlap there exactly where the comparison matters.
    """
    fig, ax = _figure(8.2, 5.6)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.plot(
        [0],
        [0],
        marker="*",
        markersize=18,
        linestyle="none",
        color="gold",
        markeredgecolor="black",
        clip_on=False,
        zorder=5,
        label="ideal: nothing recovered,\nnothing destroyed",
    )
    skipped = []
    for row in rows:
        x, y = row.means.get("destructive_rate"), row.means.get("recovery_rate")
        label = row_label(row, rows)
        if not (_finite(x) and _finite(y)):
            skipped.append(label)
            continue
        ax.scatter(
            [x],
            [y],
            s=60,
            color=colors[id(row)],
            edgecolor="black",
            zorder=4,
            clip_on=False,
            label=label,
        )
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_xlabel("destructive rate (utility items broken by unlearning)")
    ax.set_ylabel("FocusOnKey recovery rate (forgotten questions recovered)")
    ax.set_title("The unlearning dilemma: recovery vs destruction")
    if skipped:
        ax.text(
            0.99,
            0.99,
            "no data: " + ", ".join(skipped),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.4",
        )
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def plot_keytoken_similarity(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """One bar per setting: KeyToken similarity between the original and unlearned model."""
    fig, ax = _figure(max(6.4, 0.8 * len(rows) + 2.0), 4.8)
    labels = [row_label(r, rows) for r in rows]
    for i, row in enumerate(rows):
        value = row.means.get("keytoken_similarity")
        if _finite(value):
            ax.bar(i, value, color=colors[id(row)], edgecolor="black")
            ax.text(i, value + 0.02, f"{value:.2f}", ha="center", fontsize=8)
        else:
            ax.text(i, 0.02, "n/a", ha="center", fontsize=8, color="0.4")
    tilt = len(rows) > 4 or max(len(label) for label in labels) > 10
    ax.set_xticks(
        range(len(rows)), labels, rotation=30 if tilt else 0, ha="right" if tilt else "center"
    )
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("keytoken similarity (1 = same KeyTokens as M0)")
    ax.set_title("Focus shift: KeyTokens of M0 vs unlearned M1")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=DPI)
    return path


def mean_curve(row: Row, key: str) -> tuple[list[int], list[float]]:
    """Per eval step, the mean of ``key`` over the row's runs that report a finite value."""
    steps = sorted({s for r in row.runs for s in r.curve})
    xs, ys = [], []
    for step in steps:
        values = [r.curve[step].get(key) for r in row.runs if step in r.curve]
        values = [v for v in values if _finite(v)]
        if values:
            xs.append(step)
            ys.append(math.fsum(values) / len(values))
    return xs, ys


def plot_recovery_vs_step(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """FocusOnKey recovery (solid) and PROBAB recovery (dashed) vs eval step, one colour each."""
    from matplotlib.lines import Line2D

    fig, ax = _figure(7.2, 4.8)
    handles = []
    for row in rows:
        color = colors[id(row)]
        xs, ys = mean_curve(row, "recovery_rate")
        if xs:
            ax.plot(xs, ys, marker="o", markersize=4, color=color)
        pxs, pys = mean_curve(row, "probab_recovery_rate")
        if pxs:
            ax.plot(pxs, pys, marker="x", markersize=4, linestyle="--", color=color, alpha=0.8)
        suffix = "" if xs or pxs else " (no data)"
        handles.append(Line2D([], [], color=color, label=row_label(row, rows) + suffix))
    handles += [
        Line2D([], [], color="0.3", label="FocusOnKey"),
        Line2D([], [], color="0.3", linestyle="--", label="PROBAB (sampling)"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_ylim(0, 1)
    ax.set_xlabel("global step")
    ax.set_ylabel("recovery rate (of forgotten questions)")
    ax.set_title("Recovery of forgotten answers during unlearning")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=DPI)
    return path
