"""``report.py --wandb``: report.md's tables, report.csv and the plots in a job_type=report run
of the sweep's group (real wandb, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tracking.offline_runs import offline_runs
from unpact_exp.errors import DataError
from unpact_exp.report import main
from unpact_exp.report.collect import SweepJob
from unpact_exp.report.wandb_upload import destination, markdown_tables, table_key

TEXT = """# Report

## Results (final eval step)

| setting | forget (%) |
|---|---|
| ga+gd | 80.0 [49.0, 94.3] (8/10) |
| a\\|b | — |

text between

| other | table |
|---|---|
| 1 | 2 |

## Across seeds

| setting | n |
|---|---|
| ga+gd | 2 |
"""


def test_markdown_tables_are_read_with_their_titles() -> None:
    tables = markdown_tables(TEXT)
    assert [t.title for t in tables] == [
        "Results (final eval step)",
        "Results (final eval step)",
        "Across seeds",
    ]
    assert tables[0].columns == ["setting", "forget (%)"]
    assert tables[0].rows == [["ga+gd", "80.0 [49.0, 94.3] (8/10)"], ["a|b", "—"]]
    taken: set[str] = set()
    keys = [table_key(t.title, taken) for t in tables]
    assert keys == ["report/results", "report/results_2", "report/across_seeds"]


def job(group: str | None, project: str = "p") -> SweepJob:
    results = {"wandb": {"group": group, "project": project, "entity": None}} if group else {}
    return SweepJob(path=Path("x"), label="x", state="completed", results=results)


def test_the_group_is_the_one_the_runs_recorded() -> None:
    where = destination([job("g1"), job("g1"), job(None)])
    assert (where.group, where.project, where.entity) == ("g1", "p", None)
    assert destination([job("g1")], project="q", group="g2").group == "g2"
    with pytest.raises(DataError, match=r"2 W&B groups \(g1, g2\); pass --group"):
        destination([job("g1"), job("g2")])
    with pytest.raises(DataError, match="no run recorded a W&B group"):
        destination([job(None)])
    assert destination([job(None)], group="g").project == "unpact-exp"  # the packaged default


def test_without_a_group_nothing_is_written(sweep: Path, capsys) -> None:
    assert main([str(sweep), "--wandb"]) == 2
    assert "no run recorded a W&B group" in capsys.readouterr().err
    assert not (sweep / "report").exists()


def test_report_py_wandb_uploads_tables_and_plots(sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out), "--wandb", "--group", "grid-1"]) == 0
    assert "logged to W&B group 'grid-1'" in capsys.readouterr().out
    (run,) = offline_runs(out)
    assert (run.group, run.job_type, run.name) == ("grid-1", "report", "report grid-1")
    assert run.tags == ["report", "tiny", "synthetic"]
    assert run.config["stage"] == "report" and run.config["completed"] == 3
    logged = {key for row in run.history for key in row}
    expected = ("report/results", "report/failed_and_unfinished_jobs", "report/csv")
    for key in (*expected, "report/plots/dilemma"):
        assert key in logged, key
    (results,) = run.media("table", "report/results")
    table = json.loads(results.read_text())
    assert table["columns"][:3] == ["setting", "model", "data"]
    assert ["ga+gd", "tiny", "synthetic", "1", "10", "80.0"] == table["data"][0][:6]
    (raw,) = run.media("table", "report/csv")
    raw_table = json.loads(raw.read_text())
    row = dict(zip(raw_table["columns"], raw_table["data"][0]))
    assert row["setting"] == "ga+gd" and row["forget_rate"] == 0.8  # numbers, unrounded
    assert run.media("images", "report/plots/dilemma")
