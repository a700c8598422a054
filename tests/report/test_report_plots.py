"""What the report's figures say, read from their matplotlib ``Figure`` objects (no pixels):
axes scaled to the data, the ideal corner never over a point, titles naming the sweep,
per-panel step axes with intervals, labels that do not collide, colour bars and KeyTokens."""

from __future__ import annotations

from pathlib import Path

from tests.report.report_fixtures import (
    FINAL,
    SETTINGS_8,
    make_trajectory_sweep,
    results,
    trajectory_results,
    write_job,
)
from unpact_exp.evaluation.heatmap import COLORBAR_LABEL, ContributionHeatmap, heatmap_figure
from unpact_exp.report import build_rows, collect_runs
from unpact_exp.report.plots import (
    _colors,
    dilemma_figure,
    keytoken_similarity_figure,
    paired_curve,
    recovery_figure,
)

RATES = ("forget_rate", "recovery_rate", "probab_recovery_rate", "destructive_rate")


def _rows(root: Path) -> list:
    return build_rows(collect_runs([root]))


def _colors_of(rows: list) -> dict:
    return dict(zip([id(r) for r in rows], _colors(len(rows))))


def _small_grid(root: Path) -> list:
    """Three settings whose rates all lie in 0-0.3 (the stored ones x 0.3)."""
    for setting in FINAL:
        method, _, reg = setting.partition("+")
        payload = results(setting, method, reg or "none")
        payload["eval"] = {
            step: {k: v * 0.3 if k in RATES else v for k, v in metrics.items()}
            for step, metrics in payload["eval"].items()
        }
        write_job(root / setting, method, reg, payload)
    return _rows(root)


def test_dilemma_axes_fit_a_small_grid_and_hold_every_point(tmp_path: Path) -> None:
    rows = _small_grid(tmp_path)
    fig = dilemma_figure(rows, _colors_of(rows))
    left, right = fig.axes[:2]
    for ax, y_key in ((left, "recovery_rate"), (right, "forget_rate")):
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert x1 < 0.35 and y1 < 0.35  # not 0-1: the grid fills the panel
        for row in rows:
            xs, ys = paired_curve(row, "destructive_rate", y_key)
            assert all(x0 <= x <= x1 for x in xs) and all(y0 <= y <= y1 for y in ys)


def test_the_ideal_corner_is_an_arrow_under_the_points(tmp_path: Path) -> None:
    rows = _small_grid(tmp_path)
    fig = dilemma_figure(rows, _colors_of(rows))
    left, right = fig.axes[:2]
    stars = [line for ax in (left, right) for line in ax.lines if line.get_marker() == "*"]
    assert stars == []  # no marker sits on a point at the corner
    (ideal,) = [t for t in left.texts if t.get_text().startswith("ideal (0, 0)")]
    assert ideal.xy == (0.0, 0.0)  # inside the view: the arrow points at the corner itself
    points = [line.get_zorder() for line in left.lines]
    assert ideal.get_zorder() < min(points)
    (corner,) = [t for t in right.texts if t.get_text().startswith("ideal (0, 1)")]
    assert "off this view" in corner.get_text()  # forget rate 1 is outside a 0-0.3 grid


def test_dilemma_title_names_model_data_seeds_and_step(tmp_path: Path) -> None:
    rows = _small_grid(tmp_path)
    title = dilemma_figure(rows, _colors_of(rows)).get_suptitle()
    assert "model tiny, data synthetic, one seed, final step 10" in title


def test_recovery_panels_have_their_own_steps_and_intervals(tmp_path: Path) -> None:
    root = tmp_path / "multirun"
    root.mkdir()
    for index, setting in enumerate(SETTINGS_8[:3]):
        steps = 36 if setting == "npo+gd" else 10
        payload = trajectory_results(setting, index, 0, steps=steps)
        write_job(root / str(index), payload["method"], "", payload)
    rows = _rows(root)
    fig = recovery_figure(rows, _colors_of(rows))
    panels = {ax.get_title().split("\n")[0]: ax for ax in fig.axes if ax.get_visible()}
    assert panels["ga+gd"].get_xlim()[1] < 12
    assert panels["npo+gd"].get_xlim()[1] > 30
    for setting in ("ga+gd", "ga+kl", "npo+gd"):
        ax = panels[setting]
        assert ax.collections, f"{setting}: no interval band"
        assert "(one seed, n=" in ax.get_title()
    assert "pooled" not in fig.get_suptitle() and "one seed" in fig.get_suptitle()


def test_recovery_title_says_pooled_only_with_several_seeds(tmp_path: Path) -> None:
    rows = _rows(make_trajectory_sweep(tmp_path / "multirun", seeds=2))
    fig = recovery_figure(rows, _colors_of(rows))
    assert "pooled over each setting's seeds" in fig.get_suptitle()
    assert "2 seeds per setting" in fig.get_suptitle()
    assert all("(2 seeds, n=" in ax.get_title() for ax in fig.axes if ax.get_visible())


def _overlaps(fig) -> list[tuple[str, str]]:
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)  # lay out (constrained layout) before measuring
    found = []
    for ax in fig.axes:
        labels = [t for t in ax.texts if t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                if boxes[i].overlaps(boxes[j]):
                    found.append((labels[i].get_text(), labels[j].get_text()))
    return found


def test_similarity_labels_never_overlap(tmp_path: Path) -> None:
    few = _small_grid(tmp_path / "few")
    fig = keytoken_similarity_figure(few, _colors_of(few))
    assert any(t.get_text() == "0.25" for t in fig.axes[0].texts)  # values shown when they fit
    assert _overlaps(fig) == []
    many = _rows(make_trajectory_sweep(tmp_path / "many", seeds=1))
    fig = keytoken_similarity_figure(many, _colors_of(many))
    assert _overlaps(fig) == []
    assert not any(t.get_text()[:2] == "0." for ax in fig.axes for t in ax.texts)
    assert "values per bar in report.csv" in fig.get_suptitle()


def test_similarity_axes_say_what_they_measure_in_words(tmp_path: Path) -> None:
    rows = _small_grid(tmp_path)
    left, right = keytoken_similarity_figure(rows, _colors_of(rows)).axes[:2]
    assert "C+" not in right.get_ylabel() and "cosine" not in right.get_ylabel()
    assert "contributions" in right.get_ylabel() and "KeyTokens" in left.get_ylabel()


def test_heatmap_has_a_colour_bar_and_marks_keytokens() -> None:
    maps = [
        ContributionHeatmap(
            "Where did Ada work ?",
            ("Where", "did", "Ada", "work", "?"),
            (0.1, -0.05, 0.6, 0.3, 0.0),
            (0.05, 0.0, 0.1, 0.2, -0.1),
            True,
            keytokens_original=("Ada", "work"),
            keytokens_unlearned=("work",),
        ),
        ContributionHeatmap("Who ?", ("Who", "?"), (0.2, 0.1), (0.1, 0.1), False, ("Who",), ()),
    ]
    fig = heatmap_figure(maps, "ga+gd step 10")
    assert len(fig.axes) == 2 * len(maps)  # a colour bar per panel
    assert [ax.get_ylabel() for ax in fig.axes[len(maps) :]] == [COLORBAR_LABEL] * 2
    first = fig.axes[0]
    bold = [t.get_text() for t in first.get_xticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["Ada", "work"]
    assert len(first.patches) == 3  # M0: Ada, work; M1: work
    assert "KeyTokens" in fig.get_suptitle()
