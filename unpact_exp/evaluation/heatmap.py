"""Contribution heatmap: one panel per question, units as columns, M0 and M1 as rows.

Red is a positive contribution (the unit helps produce the answer), blue negative;
the colour scale is shared by both rows of a panel so the focus shift is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
    """

    question: str
    units: tuple[str, ...]
    original: tuple[float, ...]
    unlearned: tuple[float, ...]
    forgotten: bool


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
        )
        for i in order[:max_questions]
    ]


def plot_heatmaps(maps: Sequence[ContributionHeatmap], out: str | Path, title: str) -> Path:
    """Draw ``maps`` into a PNG at ``out`` and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(maps), 1, figsize=(10, 1.6 * len(maps) + 0.6), squeeze=False)
    for ax, hm in zip(axes[:, 0], maps):
        grid = np.array([hm.original, hm.unlearned], dtype=float).reshape(2, len(hm.units))
        bound = max(float(np.abs(grid).max()) if grid.size else 0.0, 1e-6)
        ax.imshow(grid, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
        ax.set_yticks([0, 1], ["original", "unlearned"])
        ax.set_xticks(range(len(hm.units)), hm.units, rotation=30, ha="right", fontsize=8)
        tag = "forgotten" if hm.forgotten else "kept"
        ax.set_title(f"[{tag}] {hm.question}", fontsize=9, loc="left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:  # a kill mid-write leaves the previous plot whole
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
