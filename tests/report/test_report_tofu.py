"""The report's TOFU, membership-inference and memorization tables, from the metrics'
declarations: headers, M0 beside M1, forget quality as a p-value."""

from __future__ import annotations

from pathlib import Path

from tests.report.report_fixtures import results, write_job
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.table import format_value, metric_tables

TOFU = {
    "tofu_forget_quality": 2.5e-05,
    "tofu_forget_quality_original": 1.1e-13,
    "tofu_model_utility": 0.51,
    "tofu_model_utility_original": 0.6,
    "tofu_forget_truth_ratio": 0.75,
    "tofu_forget_truth_ratio_original": 0.5,
    "tofu_forget_probability": 0.1,
    "tofu_forget_probability_original": 0.9,
    "tofu_forget_rouge": 0.3,
    "tofu_forget_rouge_original": 0.95,
}
MIA = {"mia_loss_auc": 0.55, "mia_loss_auc_original": 0.9, "mia_min_k_auc": 0.5}
MEMORIZATION = {"exact_memorization": 0.25, "exact_memorization_original": 0.875}


def tables(root: Path) -> dict[str, str]:
    return {title: table for title, table, _ in metric_tables(build_rows(collect_runs([root])))}


def test_new_metric_tables(tmp_path: Path) -> None:
    payload = results("npo+kl", "npo", "kl", seed=0)
    payload["eval"][payload["final_eval_step"]].update(TOFU | MIA | MEMORIZATION)
    write_job(tmp_path / "0", "npo", "kl", payload)
    got = tables(tmp_path)
    header, _, line = got["TOFU metrics"].splitlines()
    assert header == (
        "| setting | forget quality, KS p (0-1) | forget quality, KS p, M0 (0-1) "
        "| model utility (0-1) | model utility, M0 (0-1) | forget truth ratio (0-1) "
        "| forget truth ratio, M0 (0-1) | forget probability (0-1) "
        "| forget probability, M0 (0-1) | forget ROUGE-L recall (0-1) "
        "| forget ROUGE-L recall, M0 (0-1) |"
    )
    assert line == (
        "| npo+kl | 2.5e-05 | 1.1e-13 | 0.510 | 0.600 | 0.750 | 0.500 | 0.100 | 0.900 | 0.300 "
        "| 0.950 |"
    )
    header, _, line = got["Membership inference"].splitlines()
    assert header == (
        "| setting | LOSS AUC (0-1) | LOSS AUC, M0 (0-1) | Min-K% AUC (0-1) |"
    )  # only the columns some run stored
    assert line == "| npo+kl | 0.550 | 0.900 | 0.500 |"
    assert got["Memorization"].splitlines()[2] == "| npo+kl | 0.250 | 0.875 |"
    write_report([tmp_path], tmp_path / "out")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## TOFU metrics (final eval step)" in text and "## Memorization" in text


def test_no_tofu_metrics_no_table(tmp_path: Path) -> None:
    payload = results("ga+gd", "ga", "gd", seed=0)
    write_job(tmp_path / "0", "ga", "gd", payload)
    assert "TOFU metrics" not in tables(tmp_path)


def test_pvalues_keep_three_significant_digits() -> None:
    assert format_value(1.234e-13, "pvalue") == "1.23e-13"
    assert format_value(0.4567, "pvalue") == "0.457"
    assert format_value(0.4567, "unit") == "0.457"
