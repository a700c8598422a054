"""The report's uncertainty (docs/science.md §10): intervals, pooled counts, seed spread, McNemar;
and the trajectory / small-multiple figures on an eight-setting, two-seed sweep."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.report.report_fixtures import (
    COUNTS,
    FINAL,
    make_trajectory_sweep,
    results,
    with_counts,
    write_job,
)
from unpact_exp.evaluation.statistics import mcnemar_exact_p, wilson_interval
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.plots import paired_curve
from unpact_exp.report.table import markdown_table, seed_table


def _job(root: Path, name: str, setting: str, seed: int = 0, counts: dict | None = None) -> None:
    method, _, reg = setting.partition("+")
    payload = results(setting, method, reg or "none", seed=seed)
    if counts is not None:
        payload = with_counts(payload, counts)
    write_job(root / name, method, reg, payload)


def test_interval_counts_and_mcnemar_in_the_table(tmp_path: Path) -> None:
    _job(tmp_path, "0", "ga+gd", counts=COUNTS["ga+gd"])
    (row,) = build_rows(collect_runs([tmp_path]))
    assert row.pooled["recovery_rate"] == (7, 16)
    # Wilson(7, 16): centre = 8.920729 / 19.841459 = 0.449600,
    # half = 1.959964 * sqrt(63/16 + 0.960365) / 19.841459 = 0.218614 -> [0.230986, 0.668214].
    # McNemar b=5, c=1: 2 * (1 + 6) / 64 = 0.21875.
    assert row.interval("recovery_rate") == pytest.approx((0.230986, 0.668214), abs=1e-6)
    assert row.mcnemar_p == 0.21875
    table = markdown_table([row])
    assert "| 43.8 [23.1, 66.8] (7/16) |" in table
    assert "| 80.0 [58.4, 91.9] (16/20) |" in table  # forget rate
    assert table.rstrip().endswith("| 16 | 0.250 | 0.750 | 0.219 (5/1) |")


def test_seeds_pool_counts_and_give_a_spread(tmp_path: Path) -> None:
    for seed, hits in ((0, 7), (1, 9)):
        counts = dict(COUNTS["ga+gd"], recovery_rate=[hits, 16], discordant=[hits - 3, 1])
        _job(tmp_path, str(seed), "ga+gd", seed=seed, counts=counts)
    (row,) = build_rows(collect_runs([tmp_path]))
    assert row.means["recovery_rate"] == 0.5  # (7/16 + 9/16) / 2
    assert row.pooled["recovery_rate"] == (16, 32)
    assert row.interval("recovery_rate") == pytest.approx(wilson_interval(16, 32))
    # sample std of 0.4375 and 0.5625: |difference| / sqrt(2) = 0.125 / 1.41421 = 0.088388.
    assert row.stds["recovery_rate"] == pytest.approx(0.088388, abs=1e-6)
    assert row.pooled["focus_vs_probab_discordant"] == (10, 2)
    assert row.mcnemar_p == mcnemar_exact_p(10, 2)
    spread = seed_table([row])
    assert "| ga+gd | 2 | 0, 1 | 80.0 ± 0.0 | 50.0 ± 8.8 |" in spread


def test_a_pooled_rate_is_shown_as_k_over_n_inside_its_interval(tmp_path: Path) -> None:
    """Seeds with different denominators: 0/4 and 4/6 average to 33.3%, but the pooled rate is
    4/10 = 40.0%, the centre the Wilson interval (4, 10) is about; the table shows 40.0."""
    for seed, (k, n) in ((0, (0, 4)), (1, (4, 6))):
        counts = dict(COUNTS["ga+gd"], recovery_rate=[k, n])
        _job(tmp_path, str(seed), "ga+gd", seed=seed, counts=counts)
    (row,) = build_rows(collect_runs([tmp_path]))
    row.means["recovery_rate"] = (0 / 4 + 4 / 6) / 2  # as two runs storing these rates report
    low, high = wilson_interval(4, 10)
    assert f"| 40.0 [{100 * low:.1f}, {100 * high:.1f}] (4/10) |" in markdown_table([row])
    assert "33.3" in seed_table([row])  # the mean over seeds stays in the spread table


def test_a_run_without_counts_shows_no_interval_for_the_row(tmp_path: Path) -> None:
    _job(tmp_path, "0", "ga+gd", seed=0, counts=COUNTS["ga+gd"])
    _job(tmp_path, "1", "ga+gd", seed=1)  # written before counts were stored
    (row,) = build_rows(collect_runs([tmp_path]))
    assert "recovery_rate" not in row.pooled and row.mcnemar_p is None
    assert row.means["recovery_rate"] == FINAL["ga+gd"]["recovery_rate"]
    assert "| 43.8 | 18.8 |" in markdown_table([row])


def test_old_results_still_report(sweep: Path, tmp_path: Path) -> None:
    """The original fixture sweep has no counts: the table reads as before, no intervals."""
    report = write_report([sweep], tmp_path / "out")
    md = report.files[0].read_text()
    assert "| 80.0 | 43.8 | 18.8 | 12.5 | 0.350 |" in md
    assert "[" not in md.split("## Results")[1].split("Units:")[0]
    assert "Every setting has a single completed run" in md
    with (tmp_path / "out" / "report.csv").open(newline="") as handle:
        first = next(csv.DictReader(handle))
    assert first["recovery_rate_k"] == "" and first["focus_vs_probab_mcnemar_p"] == ""


def test_malformed_counts_are_ignored(tmp_path: Path) -> None:
    payload = with_counts(results("ga+gd", "ga", "gd"), COUNTS["ga+gd"])
    final = payload["eval"]["10"]
    final["forget_rate_counts"] = [21, 20]  # k > n
    final["utility_counts"] = "30/40"
    final["destructive_rate_counts"] = [1.5, 40]
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "results.json").write_text(json.dumps(payload))
    (record,) = collect_runs([tmp_path])
    assert record.final_counts["recovery_rate"] == (7, 16)
    assert not {"forget_rate", "utility", "destructive_rate"} & set(record.final_counts)


def test_csv_holds_counts_intervals_and_std(tmp_path: Path) -> None:
    for seed, hits in ((0, 7), (1, 9)):
        counts = dict(COUNTS["ga+gd"], recovery_rate=[hits, 16])
        _job(tmp_path / "sweep", str(seed), "ga+gd", seed=seed, counts=counts)
    write_report([tmp_path / "sweep"], tmp_path / "out")
    with (tmp_path / "out" / "report.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["recovery_rate_k"], row["recovery_rate_n"]) == ("16", "32")
    low, high = wilson_interval(16, 32)
    assert float(row["recovery_rate_ci_low"]) == low and float(row["recovery_rate_ci_high"]) == high
    assert float(row["recovery_rate_std"]) == pytest.approx(0.088388, abs=1e-6)
    assert (
        float(row["keytoken_similarity_retained"]) == FINAL["ga+gd"]["keytoken_similarity_retained"]
    )
    assert (row["focus_only"], row["probab_only"]) == ("10", "2")


def test_paired_curve_skips_steps_without_both_values(tmp_path: Path) -> None:
    root = make_trajectory_sweep(tmp_path / "multirun", seeds=1)
    rows = build_rows(collect_runs([root]))
    xs, ys = paired_curve(rows[0], "destructive_rate", "recovery_rate")
    # Step 0 forgets nothing, so recovery is undefined there: the path starts at step 1.
    assert len(xs) == len(ys) == 10
    assert ys[-1] == pytest.approx(rows[0].means["recovery_rate"])
    assert xs[-1] == pytest.approx(rows[0].means["destructive_rate"])


def test_paired_curve_pools_counts_over_seeds() -> None:
    """Two seeds at one step: recovery 0/4 and 4/6 pool to 4/10 = 0.4 (their mean would be
    0.333); destructive rate without counts in one run falls back to the mean."""
    from unpact_exp.report.collect import SweepJob
    from unpact_exp.report.table import Row

    def run(seed: int, rec: tuple[int, int], destructive: float, counted: bool) -> SweepJob:
        record = SweepJob(path=Path(str(seed)), label=str(seed), state="completed", seed=seed)
        record.curve[4] = {"recovery_rate": rec[0] / rec[1], "destructive_rate": destructive}
        record.step_counts[4] = {"recovery_rate": rec}
        if counted:
            record.step_counts[4]["destructive_rate"] = (1, 10)
        return record

    row = Row("m", "d", "ga+gd", [run(0, (0, 4), 0.1, True), run(1, (4, 6), 0.3, False)])
    xs, ys = paired_curve(row, "destructive_rate", "recovery_rate")
    assert ys == [pytest.approx(0.4)]
    assert xs == [pytest.approx(0.2)]


def test_eight_settings_two_seeds_render(tmp_path: Path) -> None:
    root = make_trajectory_sweep(tmp_path / "multirun")
    report = write_report([root], tmp_path / "out")
    assert [r.n for r in report.rows] == [2] * 8
    names = [p.name for p in report.files[4:]]
    assert names == ["dilemma.png", "keytoken_similarity.png", "recovery_vs_step.png"]
    for path in report.files[4:]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = report.files[0].read_text()
    assert md.count(" ± ") >= 8 * 8  # every setting has a spread row


def test_a_column_no_run_stored_gets_one_note(tmp_path: Path) -> None:
    from unpact_exp.report.table import table_notes

    for seed, setting in enumerate(("ga+gd", "npo+kl")):
        method, _, reg = setting.partition("+")
        payload = results(setting, method, reg, seed=seed)
        del payload["eval"]["10"]["keytoken_similarity_retained"]  # as in older runs
        if seed:
            del payload["eval"]["10"]["knowmem_forget"]
        write_job(tmp_path / str(seed), method, reg, payload)
    notes = table_notes(build_rows(collect_runs([tmp_path])))
    retained = [n for n in notes if "keytoken_similarity_retained" in n]
    assert retained == [
        "keytoken_similarity_retained: missing from every run (not stored by these runs)"
    ]
    assert "npo+kl: knowmem_forget missing from every run" in notes  # one row lacks it


def test_attacks_table_sits_beside_focus_on_key_and_probab(tmp_path: Path) -> None:
    from unpact_exp.report.table import attack_table

    _job(tmp_path / "old", "0", "ga+gd", counts=COUNTS["ga+gd"])
    assert attack_table(build_rows(collect_runs([tmp_path / "old"]))) is None  # no attacks
    method, reg = "ga", "gd"
    payload = with_counts(results("ga+gd", method, reg), COUNTS["ga+gd"])
    final = payload["eval"][payload["final_eval_step"]]
    final.update(
        {
            "paraphrase_recovery_rate": 0.25,
            "paraphrase_recovery_rate_counts": [4, 16],
            "relearn_recovery_rate": 0.5,
            "relearn_recovery_rate_counts": [4, 8],
            "focus_on_key_control_rate": float("nan"),
            "focus_on_key_control_rate_counts": [0, 0],
        }
    )
    write_job(tmp_path / "new" / "0", method, reg, payload)
    (row,) = build_rows(collect_runs([tmp_path / "new"]))
    table = attack_table([row])
    header, _, line = table.splitlines()
    headers = [c.strip() for c in header.strip("|").split("|")]
    assert headers[:3] == ["setting", "FocusOnKey recovery (%)", "PROBAB recovery (%)"]
    cells = dict(zip(headers, [c.strip() for c in line.strip("|").split("|")]))
    assert cells["FocusOnKey recovery (%)"].endswith("(7/16)")  # the main table's counts
    assert cells["paraphrase (%)"] == "25.0 [10.2, 49.5] (4/16)"  # Wilson(4, 16)
    assert cells["ICL (%)"] == "—"  # icl was not run
    assert cells["relearn (%)"] == "50.0 [21.5, 78.5] (4/8)"
    assert cells["FocusOnKey control (%)"] == "nan (0/0)"
    report = write_report([tmp_path / "new"], tmp_path / "out")
    assert "## Recovery attacks" in (tmp_path / "out" / "report.md").read_text(), report
