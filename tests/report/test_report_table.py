"""The table: exact values (CSV read back), paper order, seed means, markdown report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.report.report_fixtures import FAILED_ERROR, FINAL, results, write_job
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.table import COLUMNS, format_value, markdown_table, setting_order

METRIC_KEYS = [c.key for c in COLUMNS]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_csv_values_match_results_exactly(sweep: Path, tmp_path: Path) -> None:
    write_report([sweep], tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "report.csv")
    assert [r["setting"] for r in rows] == ["ga+gd", "npo+kl", "rmu"]
    for row in rows:
        expected = FINAL[row["setting"]]
        assert {k: float(row[k]) for k in METRIC_KEYS} == {k: expected[k] for k in METRIC_KEYS}
        assert float(row["n_forgotten"]) == expected["n_forgotten"]
        assert (row["model"], row["data"], row["n"], row["seeds"]) == (
            "tiny",
            "synthetic",
            "1",
            "0",
        )
        assert row["final_eval_step"] == "10"
    runs = read_csv(tmp_path / "out" / "runs.csv")
    assert [r["state"] for r in runs] == ["completed"] * 3 + ["failed", "unfinished"]


def test_markdown_lists_failed_and_unfinished(sweep: Path) -> None:
    report = write_report([sweep])
    md = (sweep / "report" / "report.md").read_text()
    assert report.files[0] == sweep / "report" / "report.md"
    assert "Jobs: 5 found: 3 completed, 1 failed, 1 unfinished." in md
    failed_section = md.split("## Failed and unfinished jobs (2)")[1]
    assert f"| 3_method=tv | failed | tv | status=failed: {FAILED_ERROR} |" in failed_section
    assert "| 4_method=npo,regularizer=gd | unfinished | npo+gd | missing results.json |" in md
    # ga+gd row, percentages with one decimal, similarity with three, knowmem as stored.
    ga_row = "| ga+gd | tiny | synthetic | 1 | 10 | 80.0 | 43.8 | 18.8 | 12.5 | 0.350 | 12.5 | "
    assert ga_row + "61.2 | 75.0 | 16 |" in md
    for name in ("dilemma.png", "keytoken_similarity.png", "recovery_vs_step.png"):
        assert f"({name})" in md


def test_seeds_and_models_grouped_with_mean(tmp_path: Path) -> None:
    for seed, forget in ((0, 0.25), (1, 0.75)):
        payload = results("ga+gd", "ga", "gd", seed=seed)
        payload["eval"]["10"]["forget_rate"] = forget
        if seed:
            del payload["eval"]["10"]["utility"]
        write_job(tmp_path / f"{seed}_seed={seed}", "ga", "gd", payload)
    write_job(tmp_path / "2_big", "ga", "gd", results("ga+gd", "ga", "gd", model="big"))
    write_job(tmp_path / "3_abl", "ga", "", results("rmu", "ga", "none", setting="ga"))
    write_job(tmp_path / "4_new", "ga", "", results("rmu", "x", "none", setting="zz"))
    write_job(tmp_path / "5_tv", "tv", "", results("rmu", "tv", "none", setting="tv"))
    rows = build_rows(collect_runs([tmp_path]))
    assert [(r.setting, r.model, r.n) for r in rows] == [
        ("ga+gd", "big", 1),
        ("ga+gd", "tiny", 2),
        ("tv", "tiny", 1),
        ("ga", "tiny", 1),
        ("zz", "tiny", 1),
    ]
    tiny = rows[1]
    assert tiny.means["forget_rate"] == 0.5
    assert tiny.seeds == ["0", "1"]
    assert tiny.counts["utility"] == 1 and tiny.means["utility"] == FINAL["ga+gd"]["utility"]
    table = markdown_table(rows)
    assert "| ga+gd [tiny/synthetic] | tiny | synthetic | 2 | 10 | 50.0 |" in table
    assert "75.0†" in table  # utility: mean of 1 of 2 runs


def test_no_completed_runs_still_reports(tmp_path: Path) -> None:
    (tmp_path / "job" / ".hydra").mkdir(parents=True)
    report = write_report([tmp_path])
    assert report.rows == [] and len(report.files) == 4  # no plots without data
    assert "No completed runs" in report.files[0].read_text()


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [(0.4567, "rate", "45.7"), (0.35, "similarity", "0.350"), (61.25, "score", "61.2"),
     (None, "rate", "—"), (float("nan"), "rate", "nan")],
)  # fmt: skip
def test_format_value(value: float | None, kind: str, text: str) -> None:
    assert format_value(value, kind) == text


def test_setting_order() -> None:
    names = ["zz", "npo", "rmu", "ga", "tv", "npo+kl", "npo+gd", "ga+kl", "ga+gd", "aa"]
    assert sorted(names, key=setting_order) == [
        "ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu", "ga", "npo", "aa", "zz",
    ]  # fmt: skip
