"""Contribution heatmap: one panel per question, units as columns, M0 and M1 as rows.

Red is a positive contribution (the unit helps produce the answer), blue negative;
the colour scale is shared by both rows of a panel so the focus shift is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from unpact_exp.evaluation.evaluator import ContributionHeatmap
from unpact_exp.results import atomic_path


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
