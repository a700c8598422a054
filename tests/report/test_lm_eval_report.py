"""The report's table of lm-eval WMDP/MMLU accuracies (metrics.lm_eval), beside M0's."""

from __future__ import annotations

from pathlib import Path

from tests.report.report_fixtures import COUNTS, results, with_counts, write_job
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.table import metric_tables


def lm_eval_table(rows):
    """The report table of the metrics declared under 'WMDP and MMLU' (None: empty)."""
    return next(
        (
            table
            for got, table, _ in metric_tables(rows)
            if got == "WMDP and MMLU (lm-evaluation-harness)"
        ),
        None,
    )


def test_lm_eval_table_shows_measured_tasks_with_intervals(tmp_path: Path) -> None:
    plain = with_counts(results("ga+gd", "ga", "gd"), COUNTS["ga+gd"])
    write_job(tmp_path / "old" / "0", "ga", "gd", plain)
    assert lm_eval_table(build_rows(collect_runs([tmp_path / "old"]))) is None  # not measured
    payload = with_counts(results("ga+gd", "ga", "gd"), COUNTS["ga+gd"])
    final = payload["eval"][payload["final_eval_step"]]
    final.update(
        {
            "lm_eval_wmdp_bio_acc": 0.25,
            "lm_eval_wmdp_bio_acc_counts": [4, 16],
            "lm_eval_wmdp_bio_acc_original": 0.5,
            "lm_eval_wmdp_bio_acc_original_counts": [4, 8],
        }
    )
    write_job(tmp_path / "new" / "0", "ga", "gd", payload)
    (row,) = build_rows(collect_runs([tmp_path / "new"]))
    header, _, line = lm_eval_table([row]).splitlines()
    assert header == "| setting | WMDP-Bio (%) | WMDP-Bio original (%) |"  # cyber, MMLU not run
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "25.0 [10.2, 49.5] (4/16)"  # Wilson(4, 16)
    assert cells[2] == "50.0 [21.5, 78.5] (4/8)"  # Wilson(4, 8)
    write_report([tmp_path / "new"], tmp_path / "out")
    assert "## WMDP and MMLU (lm-evaluation-harness" in (tmp_path / "out" / "report.md").read_text()
