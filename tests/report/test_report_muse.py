"""The report's MUSE table: VerbMem and PrivLeak of M1 beside M0's, averaged over seeds."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.report.report_fixtures import results, write_job
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.table import metric_tables


def muse_table(rows):
    """The report table of the metrics declared under 'MUSE metrics' (None: empty)."""
    return next((table for got, table, _ in metric_tables(rows) if got == "MUSE metrics"), None)


MUSE = {
    0: {"verbmem_forget": 10.0, "verbmem_forget_original": 80.0, "privleak_auc": 0.4,
        "privleak_auc_original": 0.05},
    1: {"verbmem_forget": 20.0, "verbmem_forget_original": 80.0, "privleak_auc": 0.5,
        "privleak_auc_original": 0.05},
}  # fmt: skip


def _job(root: Path, seed: int, extra: dict) -> None:
    payload = results("ga+gd", "ga", "gd", seed=seed)
    payload["eval"][payload["final_eval_step"]].update(extra)
    write_job(root / str(seed), "ga", "gd", payload)


def test_no_muse_metrics_no_table(tmp_path: Path) -> None:
    _job(tmp_path, 0, {})
    assert muse_table(build_rows(collect_runs([tmp_path]))) is None


def test_muse_table_averages_seeds_and_omits_privleak_without_retrain(tmp_path: Path) -> None:
    for seed, extra in MUSE.items():
        _job(tmp_path, seed, extra)
    (row,) = build_rows(collect_runs([tmp_path]))
    header, _, line = muse_table([row]).splitlines()
    assert header == (
        "| setting | VerbMem forget (0-100) | VerbMem forget, M0 (0-100) | PrivLeak AUC (0-1) "
        "| PrivLeak AUC, M0 (0-1) |"
    )  # no run was given eval.retrain_model: no relative PrivLeak column
    assert line == "| ga+gd | 15.0 | 80.0 | 0.450 | 0.050 |"
    write_report([tmp_path], tmp_path / "out")
    assert "## MUSE metrics (final eval step)" in (tmp_path / "out" / "report.md").read_text()
    with (tmp_path / "out" / "report.csv").open(newline="") as handle:
        (saved,) = list(csv.DictReader(handle))
    assert float(saved["verbmem_forget"]) == 15.0 and float(saved["privleak_auc"]) == 0.45
    assert saved["privleak"] == ""


def test_relative_privleak_column_when_runs_have_it(tmp_path: Path) -> None:
    _job(tmp_path, 0, {**MUSE[0], "privleak": -16.2, "privleak_original": -89.5})
    (row,) = build_rows(collect_runs([tmp_path]))
    header, _, line = muse_table([row]).splitlines()
    assert header.endswith("| PrivLeak vs retrain (%) | PrivLeak vs retrain, M0 (%) |")
    assert line.endswith("| -16.2 | -89.5 |")
