"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

- ``dilemma.png``: the path of each setting over its evaluation steps, averaged over seeds.
  Left, FocusOnKey recovery rate against destructive rate: the paper's claim (docs/science.md §1)
  is that no method reaches the ideal corner (0, 0), and the path shows how each gets where it
  ends: either the knowledge comes back when the KeyTokens are emphasised, or the model breaks.
  Right, forget rate against destructive rate along the same steps: how much forgetting each
  unit of destruction buys. The final point is the table's value, with its 95% Wilson
  interval as error bars when the runs stored their counts.
- ``keytoken_similarity.png``: the focus shift (docs/science.md §3) per setting, split into the
  known questions M1 forgot and those it still answers, for KeyToken similarity (left) and
  contribution similarity (right); a black bar marks the overall mean.
- ``recovery_vs_step.png``: small multiples, one panel per setting, FocusOnKey recovery
  (solid) and the budget-matched PROBAB sampling baseline (dashed) against the step, on
  shared axes so panels compare at a glance even with eight settings.

matplotlib is imported inside the functions so that importing the report package stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.report.table import Row, row_label
from unpact_exp.results import atomic_path

DPI = 150
PANEL_COLUMNS = 4


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw: Any) -> Any:
    """A figure and its axes grid (``squeeze=False``: always a 2-D array)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


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


def paired_curve(row: Row, x_key: str, y_key: str) -> tuple[list[float], list[float]]:
    """Per eval step, ``x_key`` and ``y_key`` over the runs reporting both: a rate whose counts
    every such run stored is pooled (``sum k / sum n``, as the table shows it), anything else is
    the mean over those runs.

    Steps where no run has both (e.g. recovery at step 0, when nothing is forgotten yet) are
    left out, so the path starts at the first step where the point is defined.
    """
    steps = sorted({s for r in row.runs for s in r.curve})
    xs, ys = [], []
    for step in steps:
        runs = [
            r
            for r in row.runs
            if step in r.curve
            and _finite(r.curve[step].get(x_key))
            and _finite(r.curve[step].get(y_key))
        ]
        if runs:
            xs.append(_step_value(runs, step, x_key))
            ys.append(_step_value(runs, step, y_key))
    return xs, ys


def _step_value(runs: Sequence[Any], step: int, key: str) -> float:
    """``key`` at ``step`` over ``runs``: pooled counts when all have them (and n > 0), else
    the mean of the stored values."""
    counts = [r.step_counts.get(step, {}).get(key) for r in runs]
    if all(c is not None for c in counts):
        n = sum(c[1] for c in counts)
        if n > 0:
            return sum(c[0] for c in counts) / n
    return math.fsum(r.curve[step][key] for r in runs) / len(runs)


def _error(row: Row, key: str, value: float) -> list[list[float]] | None:
    """matplotlib's asymmetric error bar ``[[below], [above]]`` from the Wilson interval."""
    interval = row.interval(key)
    if interval is None:
        return None
    return [[max(0.0, value - interval[0])], [max(0.0, interval[1] - value)]]


def _path_panel(
    ax: Any, rows: Sequence[Row], colors: dict[int, Any], y_key: str, ideal: tuple[float, float]
) -> list[str]:
    """Draw every setting's path through (destructive rate, ``y_key``); return those skipped."""
    x_key = "destructive_rate"
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.plot(
        [ideal[0]],
        [ideal[1]],
        marker="*",
        markersize=18,
        linestyle="none",
        color="gold",
        markeredgecolor="black",
        clip_on=False,
        zorder=5,
    )
    skipped = []
    for row in rows:
        color = colors[id(row)]
        xs, ys = paired_curve(row, x_key, y_key)
        if len(xs) > 1:
            ax.plot(xs, ys, color=color, linewidth=1.4, alpha=0.75, zorder=3)
            ax.plot(xs[:-1], ys[:-1], "o", color=color, markersize=3, alpha=0.75, zorder=3)
            ax.plot(xs[0], ys[0], "o", markerfacecolor="white", markeredgecolor=color, markersize=6)
        x, y = row.value(x_key), row.value(y_key)
        if not (_finite(x) and _finite(y)):
            skipped.append(row_label(row, rows))
            continue
        ax.errorbar(
            [x],
            [y],
            xerr=_error(row, x_key, x),
            yerr=_error(row, y_key, y),
            fmt="o",
            markersize=9,
            color=color,
            markeredgecolor="black",
            ecolor=color,
            elinewidth=1.0,
            capsize=3,
            zorder=4,
            clip_on=False,
        )
    ax.set_xlabel("destructive rate (utility items broken)")
    return skipped


def plot_dilemma(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """Two panels of paths over the evaluation steps: recovery and forget rate vs destruction.

    Methods are named in one legend beside the panels rather than next to their points: the
    regularized settings usually sit close together, and labels printed at the points
    overlap there exactly where the comparison matters.
    """
    from matplotlib.lines import Line2D

    fig, axes = _figure(13.0, 5.8, 1, 2)
    left, right = axes[0]
    skipped = _path_panel(left, rows, colors, "recovery_rate", (0.0, 0.0))
    left.set_ylabel("FocusOnKey recovery rate (forgotten questions recovered)")
    left.set_title("Recovery vs destruction along unlearning")
    _path_panel(right, rows, colors, "forget_rate", (0.0, 1.0))
    right.set_ylabel("forget rate (known questions now wrong)")
    right.set_title("Forgetting vs destruction along unlearning")
    handles = [
        Line2D([], [], color=colors[id(r)], marker="o", label=row_label(r, rows)) for r in rows
    ]
    handles += [
        Line2D(
            [],
            [],
            color="0.4",
            marker="o",
            markerfacecolor="white",
            linestyle="none",
            label="first evaluated step",
        ),  # fmt: skip
        Line2D(
            [],
            [],
            color="0.4",
            marker="o",
            markersize=9,
            markeredgecolor="black",
            linestyle="-",
            label="final step (95% Wilson\ninterval when counts stored)",
        ),  # fmt: skip
        Line2D(
            [],
            [],
            marker="*",
            markersize=14,
            color="gold",
            markeredgecolor="black",
            linestyle="none",
            label="ideal",
        ),  # fmt: skip
    ]
    fig.legend(handles=handles, fontsize=8, loc="outside right center")
    if skipped:
        left.text(
            0.99,
            0.99,
            "no data: " + ", ".join(skipped),
            transform=left.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color="0.4",
        )
    with atomic_path(path) as tmp:  # a kill mid-write leaves the previous plot whole
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
    return path


def _split_bars(ax: Any, rows: Sequence[Row], colors: dict[int, Any], name: str) -> None:
    """Per setting: a solid bar over the forgotten questions, a hatched one over the retained,
    and a black line at the overall mean (the only mark for runs without the split)."""
    width = 0.38
    for i, row in enumerate(rows):
        color = colors[id(row)]
        for offset, suffix, style in (
            (-width / 2, "forgotten", {}),
            (width / 2, "retained", {"hatch": "///", "alpha": 0.45}),
        ):
            value = row.means.get(f"{name}_{suffix}")
            x = i + offset
            if _finite(value):
                ax.bar(x, value, width, color=color, edgecolor="black", **style)
                ax.text(x, value + 0.015, f"{value:.2f}", ha="center", fontsize=7)
            else:
                ax.text(x, 0.02, "n/a", ha="center", fontsize=7, color="0.4", rotation=90)
        overall = row.means.get(name)
        if _finite(overall):
            ax.hlines(overall, i - width, i + width, colors="black", linewidth=2, zorder=4)
    labels = [row_label(r, rows) for r in rows]
    tilt = len(rows) > 4 or max(len(label) for label in labels) > 10
    ax.set_xticks(
        range(len(rows)), labels, rotation=30 if tilt else 0, ha="right" if tilt else "center"
    )
    ax.set_ylim(0, 1.1)
    ax.grid(axis="y", alpha=0.3)


def plot_keytoken_similarity(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """KeyToken and contribution similarity of M0 and M1, forgotten vs retained questions."""
    from matplotlib.patches import Patch

    width = max(9.0, 1.3 * len(rows) + 3.0)
    fig, axes = _figure(width, 4.8, 1, 2)
    left, right = axes[0]
    _split_bars(left, rows, colors, "keytoken_similarity")
    left.set_ylabel("keytoken similarity (1 = same KeyTokens as M0)")
    left.set_title("Focus shift: KeyTokens of M0 vs M1")
    _split_bars(right, rows, colors, "contribution_similarity")
    right.set_ylabel("contribution similarity (cosine of C+)")
    right.set_title("Focus shift: contributions of M0 vs M1")
    handles = [
        Patch(facecolor="0.5", edgecolor="black", label="forgotten (known, M1 now wrong)"),
        Patch(
            facecolor="0.5",
            edgecolor="black",
            hatch="///",
            alpha=0.45,
            label="retained (known, M1 still right)",
        ),  # fmt: skip
        Patch(facecolor="black", label="all known questions"),
    ]
    fig.legend(handles=handles, fontsize=8, loc="outside upper center", ncols=3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI)
    return path


def plot_recovery_vs_step(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """One panel per setting: FocusOnKey (solid) and PROBAB (dashed) recovery vs step."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    ncols = min(PANEL_COLUMNS, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    width = max(6.4, 3.2 * ncols + 0.6)  # one or two panels still fit the title and legend
    fig, axes = _figure(width, 2.6 * nrows + 1.0, nrows, ncols, sharex=True, sharey=True)
    flat = [ax for line in axes for ax in line]
    for ax, row in zip(flat, rows):
        color = colors[id(row)]
        xs, ys = mean_curve(row, "recovery_rate")
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, color=color)
        pxs, pys = mean_curve(row, "probab_recovery_rate")
        if pxs:
            ax.plot(pxs, pys, marker="x", markersize=3, linestyle="--", color="0.35")
        if not (xs or pxs):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="0.4")
        title = row_label(row, rows) + (f" (n={row.n})" if row.n > 1 else "")
        ax.set_title(title, fontsize=9, color=color)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for index, ax in enumerate(flat):
        if index >= len(rows):
            ax.set_visible(False)
        elif index + ncols >= len(rows):  # the lowest panel of its column: label the steps
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("global step")
    for line in axes:
        line[0].set_ylabel("recovery rate")
    handles = [
        Line2D([], [], color="0.1", marker="o", markersize=3, label="FocusOnKey"),
        Line2D(
            [],
            [],
            color="0.35",
            marker="x",
            markersize=3,
            linestyle="--",
            label="PROBAB (budget-matched sampling)",
        ),  # fmt: skip
    ]
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=2)
    fig.suptitle("Recovery of forgotten answers during unlearning (mean over seeds)")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI)
    return path
