"""The report's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

- ``dilemma.png``: the path of each setting over its evaluation steps, averaged over seeds.
  Left, FocusOnKey recovery rate against destructive rate: the paper's claim (docs/science.md §1)
  is that no method reaches the ideal corner (0, 0), and the path shows how each gets where it
  ends: either the knowledge comes back when the KeyTokens are emphasised, or the model breaks.
  Right, forget rate against destructive rate along the same steps: how much forgetting each
  unit of destruction buys. The final point is the table's value, with its 95% Wilson
  interval as error bars when the runs stored their counts. The axes are scaled to the data
  (a grid that stays within 0-0.3 fills the panel); the ideal corner is marked by an arrow
  drawn under the points, so a point at the corner stays visible. The title names the
  model(s), data, seeds and final step.
- ``keytoken_similarity.png``: the focus shift (docs/science.md §3) per setting, split into the
  known questions M1 forgot and those it still answers, for KeyToken similarity (left) and
  contribution similarity (right); a black bar marks the overall mean. Values are printed on
  the bars only when there is room for them (few settings); report.csv holds them all.
- ``recovery_vs_step.png``: small multiples, one panel per setting, FocusOnKey recovery
  (solid, with its 95% Wilson band from the counts pooled over seeds) and the budget-matched
  PROBAB sampling baseline (dashed) against the step. The y-axis is shared; each panel has
  its own x-axis, since settings train for different step counts (tv's 36 steps would
  otherwise squeeze a 20-step panel into its left half).

Each figure is built by a ``*_figure`` function that returns the matplotlib ``Figure`` (the
tests inspect its axes and texts), and written by ``plot_*``.

matplotlib is imported inside the functions so that importing the report package stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.statistics import wilson_interval
from unpact_exp.report.table import Row, row_label
from unpact_exp.results import atomic_path

DPI = 150
PANEL_COLUMNS = 4
LABELLED_BARS_MAX = 5  # settings up to which the similarity bars carry their values
MARGIN = 0.08  # of the data span, around the dilemma's points


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


def _save(fig: Any, path: Path, **kw: Any) -> Path:
    with atomic_path(path) as tmp:  # a kill mid-write leaves the previous plot whole
        fig.savefig(tmp, dpi=DPI, **kw)
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


def interval_curve(row: Row, key: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per eval step: the step, the value of rate ``key`` and its 95% Wilson interval.

    The value is pooled over the runs reporting it (``sum k / sum n``) when every such run
    stored its counts, and the interval is that of the pooled counts; otherwise the value is
    the mean and the interval is NaN (no band is drawn at that step).
    """
    steps = sorted({s for r in row.runs for s in r.curve})
    xs, ys, lows, highs = [], [], [], []
    for step in steps:
        runs = [r for r in row.runs if step in r.curve and _finite(r.curve[step].get(key))]
        if not runs:
            continue
        counts = [r.step_counts.get(step, {}).get(key) for r in runs]
        k_n = None
        if all(c is not None for c in counts):
            k_n = (sum(c[0] for c in counts), sum(c[1] for c in counts))
        interval = wilson_interval(*k_n) if k_n is not None else None
        xs.append(step)
        ys.append(_step_value(runs, step, key))
        lows.append(interval[0] if interval else math.nan)
        highs.append(interval[1] if interval else math.nan)
    return xs, ys, lows, highs


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


def _join(values: Sequence[str]) -> str:
    unique = sorted(set(values))
    return ", ".join(unique) if len(unique) <= 3 else f"{', '.join(unique[:3])} +{len(unique) - 3}"


def sweep_caption(rows: Sequence[Row]) -> str:
    """``model tiny, data synthetic, 2 seeds per setting, final step 10``: what a figure shows."""
    ns = sorted({r.n for r in rows})
    if ns == [1]:
        seeds = "one seed"
    elif len(ns) == 1:
        seeds = f"{ns[0]} seeds per setting"
    else:
        seeds = f"{ns[0]}-{ns[-1]} seeds per setting"
    steps = sorted({r.final_step for row in rows for r in row.runs if r.final_step is not None})
    step = "final step " + (_join([str(s) for s in steps]) if steps else "?")
    if len(steps) > 1:
        step = "final steps " + ", ".join(str(s) for s in steps)
    models, data = _join([r.model for r in rows]), _join([r.data for r in rows])
    return f"model {models}, data {data}, {seeds}, {step}"


def _limits(values: Sequence[float]) -> tuple[float, float]:
    """The data's range widened by ``MARGIN`` of its span (at least 0.05), kept near 0-1."""
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = max(hi - lo, 0.05)
    return max(lo - MARGIN * span, -0.02), min(hi + MARGIN * span, 1.02)


def _mark_ideal(ax: Any, ideal: tuple[float, float]) -> None:
    """An arrow to the ideal corner, drawn under the points (zorder 1) and never over one.

    The corner may lie outside axes scaled to the data: the arrow then points at the edge
    nearest to it, and the label says where it is.
    """
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    x, y = min(max(ideal[0], x0), x1), min(max(ideal[1], y0), y1)
    inside = (x, y) == ideal
    dx = 1 if ideal[0] <= (x0 + x1) / 2 else -1
    dy = 1 if ideal[1] <= (y0 + y1) / 2 else -1
    text = f"ideal ({ideal[0]:g}, {ideal[1]:g})" + ("" if inside else ", off this view")
    ax.annotate(
        text,
        xy=(x, y),
        xytext=(dx * 38, dy * 26),
        textcoords="offset points",
        ha="left" if dx > 0 else "right",
        va="bottom" if dy > 0 else "top",
        fontsize=8,
        color="0.35",
        arrowprops={"arrowstyle": "-|>", "color": "goldenrod", "lw": 1.5},
        zorder=1,
        annotation_clip=False,
    )


def _path_panel(
    ax: Any, rows: Sequence[Row], colors: dict[int, Any], y_key: str, ideal: tuple[float, float]
) -> list[str]:
    """Draw every setting's path through (destructive rate, ``y_key``); return those skipped."""
    x_key = "destructive_rate"
    ax.grid(alpha=0.3, zorder=0)
    skipped, all_x, all_y = [], [], []
    for row in rows:
        color = colors[id(row)]
        xs, ys = paired_curve(row, x_key, y_key)
        all_x += xs
        all_y += ys
        if len(xs) > 1:
            ax.plot(xs, ys, color=color, linewidth=1.4, alpha=0.75, zorder=3)
            ax.plot(xs[:-1], ys[:-1], "o", color=color, markersize=3, alpha=0.75, zorder=3)
            ax.plot(xs[0], ys[0], "o", markerfacecolor="white", markeredgecolor=color, markersize=6)
        x, y = row.value(x_key), row.value(y_key)
        if not (_finite(x) and _finite(y)):
            skipped.append(row_label(row, rows))
            continue
        xerr, yerr = _error(row, x_key, x), _error(row, y_key, y)
        all_x += [x] + ([x - xerr[0][0], x + xerr[1][0]] if xerr else [])
        all_y += [y] + ([y - yerr[0][0], y + yerr[1][0]] if yerr else [])
        ax.errorbar(
            [x],
            [y],
            xerr=xerr,
            yerr=yerr,
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
    ax.set_xlim(*_limits(all_x))
    ax.set_ylim(*_limits(all_y))
    _mark_ideal(ax, ideal)
    ax.set_xlabel("destructive rate (utility items broken)")
    return skipped


def dilemma_figure(rows: Sequence[Row], colors: dict[int, Any]) -> Any:
    """Two panels of paths over the evaluation steps: recovery and forget rate vs destruction.

    Methods are named in one legend beside the panels rather than next to their points: the
    regularized settings usually sit close together, and labels printed at the points
    overlap there exactly where the comparison matters.
    """
    from matplotlib.lines import Line2D

    fig, axes = _figure(13.0, 6.0, 1, 2)
    left, right = axes[0]
    skipped = _path_panel(left, rows, colors, "recovery_rate", (0.0, 0.0))
    left.set_ylabel("FocusOnKey recovery rate (forgotten questions recovered)")
    left.set_title("Recovery vs destruction along unlearning")
    _path_panel(right, rows, colors, "forget_rate", (0.0, 1.0))
    right.set_ylabel("forget rate (known questions now wrong)")
    right.set_title("Forgetting vs destruction along unlearning")
    fig.suptitle("The unlearning dilemma: " + sweep_caption(rows), fontsize=11)
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
            color="goldenrod",
            marker=r"$\rightarrow$",
            markersize=12,
            linestyle="none",
            label="towards the ideal corner",
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
    return fig


def plot_dilemma(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """Write :func:`dilemma_figure` to ``path``."""
    return _save(dilemma_figure(rows, colors), path, bbox_inches="tight")


def _split_bars(
    ax: Any, rows: Sequence[Row], colors: dict[int, Any], name: str, labelled: bool
) -> None:
    """Per setting: a solid bar over the forgotten questions, a hatched one over the retained,
    and a black line at the overall mean (the only mark for runs without the split).

    ``labelled``: print each bar's value above it, on a white box drawn over the mean line.
    """
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
                if labelled:
                    ax.text(
                        x,
                        value + 0.015,
                        f"{value:.2f}",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        zorder=5,
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
                    )
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


def keytoken_similarity_figure(rows: Sequence[Row], colors: dict[int, Any]) -> Any:
    """KeyToken and contribution similarity of M0 and M1, forgotten vs retained questions."""
    from matplotlib.patches import Patch

    labelled = len(rows) <= LABELLED_BARS_MAX
    width = max(9.0, 1.3 * len(rows) + 3.0)
    fig, axes = _figure(width, 5.0, 1, 2)
    left, right = axes[0]
    _split_bars(left, rows, colors, "keytoken_similarity", labelled)
    left.set_ylabel("KeyTokens shared by M0 and M1\n(1 = the same KeyTokens, 0 = none shared)")
    left.set_title("Focus shift: KeyTokens of M0 vs M1")
    _split_bars(right, rows, colors, "contribution_similarity", labelled)
    right.set_ylabel(
        "how alike M0's and M1's word contributions are\n(1 = the same words help the answer)"
    )
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
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=3)
    note = "" if labelled else " (values per bar in report.csv)"
    fig.suptitle("Focus shift: " + sweep_caption(rows) + note, fontsize=10)
    return fig


def plot_keytoken_similarity(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """Write :func:`keytoken_similarity_figure` to ``path``."""
    return _save(keytoken_similarity_figure(rows, colors), path)


def _seeds_text(n: int) -> str:
    return "one seed" if n == 1 else f"{n} seeds"


def recovery_figure(rows: Sequence[Row], colors: dict[int, Any]) -> Any:
    """One panel per setting, each with its own x-axis: FocusOnKey (solid, 95% Wilson band)
    and PROBAB (dashed) recovery vs step; the title names the seeds and forgotten questions."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    ncols = min(PANEL_COLUMNS, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    width = max(6.4, 3.2 * ncols + 0.6)  # one or two panels still fit the title and legend
    fig, axes = _figure(width, 2.8 * nrows + 1.2, nrows, ncols, sharex=False, sharey=True)
    flat = [ax for line in axes for ax in line]
    for ax, row in zip(flat, rows):
        color = colors[id(row)]
        xs, ys, lows, highs = interval_curve(row, "recovery_rate")
        if xs:
            ax.fill_between(xs, lows, highs, color=color, alpha=0.2, linewidth=0)
            ax.plot(xs, ys, marker="o", markersize=3, color=color)
        pxs, pys = mean_curve(row, "probab_recovery_rate")
        if pxs:
            ax.plot(pxs, pys, marker="x", markersize=3, linestyle="--", color="0.35")
        if not (xs or pxs):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="0.4")
        pooled = row.pooled.get("recovery_rate")
        detail = _seeds_text(row.n) + (f", n={pooled[1]} forgotten" if pooled else "")
        ax.set_title(f"{row_label(row, rows)}\n({detail})", fontsize=9, color=color)
        ax.set_ylim(-0.02, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("global step", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in flat[len(rows) :]:
        ax.set_visible(False)
    for line in axes:
        line[0].set_ylabel("recovery rate")
    handles = [
        Line2D([], [], color="0.1", marker="o", markersize=3, label="FocusOnKey"),
        Patch(facecolor="0.1", alpha=0.2, label="its 95% Wilson interval"),
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
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=3)
    pooled = "" if all(r.n == 1 for r in rows) else ", pooled over each setting's seeds"
    fig.suptitle(
        f"Recovery of forgotten answers during unlearning{pooled}\n{sweep_caption(rows)}",
        fontsize=10,
    )
    return fig


def plot_recovery_vs_step(rows: Sequence[Row], colors: dict[int, Any], path: Path) -> Path:
    """Write :func:`recovery_figure` to ``path``."""
    return _save(recovery_figure(rows, colors), path)
