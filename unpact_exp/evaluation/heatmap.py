"""Contribution heatmap: one panel per question, units as columns, M0 and M1 as rows.

Red is a positive contribution (the unit helps produce the answer), blue negative;
the colour scale is shared by both rows of a panel so the focus shift is visible, and each
panel's colour bar says so. A model's KeyTokens are outlined in its row, and a unit that is a
KeyToken under either model has a bold tick label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.rows import QuestionRow
from unpact_exp.results import atomic_path


@dataclass(frozen=True)
class ContributionHeatmap:
    """Per-unit contributions of M0 and M1 on one forget question, for a heatmap.

    Attributes:
        question: the question text.
        units: the unit texts (columns of the heatmap).
        original: C_i under M0 (first row).
        unlearned: C_i under M1 (second row).
        forgotten: whether M1 forgot the answer.
        keytokens_original, keytokens_unlearned: the KeyTokens' unit texts under M0 and M1.
    """

    question: str
    units: tuple[str, ...]
    original: tuple[float, ...]
    unlearned: tuple[float, ...]
    forgotten: bool
    keytokens_original: tuple[str, ...] = ()
    keytokens_unlearned: tuple[str, ...] = ()


def heatmap_data(rows: Sequence[QuestionRow], max_questions: int) -> list[ContributionHeatmap]:
    """Heatmap data for up to ``max_questions`` forget questions.

    Forgotten questions come first (they show the focus shift), then the others, each in
    benchmark order, so the selection is deterministic.
    """
    order = sorted(range(len(rows)), key=lambda i: not rows[i].forgotten)
    return [
        ContributionHeatmap(
            question=rows[i].question,
            units=tuple(rows[i].units),
            original=tuple(rows[i].contributions_original),
            unlearned=tuple(rows[i].contributions_unlearned),
            forgotten=bool(rows[i].forgotten),
            keytokens_original=tuple(rows[i].keytokens_original),
            keytokens_unlearned=tuple(rows[i].keytokens_unlearned),
        )
        for i in order[:max_questions]
    ]


COLORBAR_LABEL = "contribution C_i\n(red: helps the answer,\nblue: works against it)"


def heatmap_figure(maps: Sequence[ContributionHeatmap], title: str) -> Any:
    """The heatmap of ``maps`` as a matplotlib ``Figure`` (one panel and colour bar each)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(11, 1.9 * len(maps) + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(maps), 1, squeeze=False)
    for ax, hm in zip(axes[:, 0], maps):
        grid = np.array([hm.original, hm.unlearned], dtype=float).reshape(2, len(hm.units))
        bound = max(float(np.abs(grid).max()) if grid.size else 0.0, 1e-6)
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_yticks([0, 1], ["original (M0)", "unlearned (M1)"])
        ax.set_xticks(range(len(hm.units)), hm.units, rotation=30, ha="right", fontsize=8)
        keys = (set(hm.keytokens_original), set(hm.keytokens_unlearned))
        for label, unit in zip(ax.get_xticklabels(), hm.units):
            if unit in keys[0] | keys[1]:
                label.set_fontweight("bold")
        for row, keytokens in enumerate(keys):
            for col, unit in enumerate(hm.units):
                if unit in keytokens:
                    ax.add_patch(
                        Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, lw=2.0, ec="black")
                    )
        tag = "forgotten" if hm.forgotten else "kept"
        ax.set_title(f"[{tag}] {hm.question}", fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, label=COLORBAR_LABEL, fraction=0.04, pad=0.01)
    fig.suptitle(
        f"{title}\nblack outline: that model's KeyTokens (bold label: a KeyToken of M0 or M1)",
        fontsize=10,
    )
    return fig


def plot_heatmaps(maps: Sequence[ContributionHeatmap], out: str | Path, title: str) -> Path:
    """Draw ``maps`` into a PNG at ``out`` and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = heatmap_figure(maps, title)
    with atomic_path(out) as tmp:  # a kill mid-write leaves the previous plot whole
        fig.savefig(tmp, dpi=110)
    return out
