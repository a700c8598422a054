"""Report pooling by identity (issue 26 item 3).

``report.py`` over 13 completed runs of one setting and seed pooled them as 13 seeds
("seeds 0,0,...", 78/260 instead of 6/20), and pooled runs of different ``max_steps``
("step 2/6"), with no warning. Runs are now seeds of one row only when they share setting,
data, model, every identity override but ``seed``, and the step budget.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from unpact_exp.errors import DataError
from unpact_exp.report import build_rows, collect_runs, write_report
from unpact_exp.report.cli import main as report_main
from unpact_exp.report.table import row_label


def _job(
    folder: Path, seed: int, max_steps: int, forgotten: int, overrides: list[str] = ()
) -> Path:
    """A completed ga run: 20 known questions, ``forgotten`` of them forgotten at the end."""
    folder.mkdir(parents=True)
    final = {"forget_rate": forgotten / 20, "forget_rate_counts": [forgotten, 20]}
    results = {
        "status": "completed",
        "method": "ga",
        "regularizer": "none",
        "setting": "ga",
        "model": "tiny",
        "data": "synthetic",
        "seed": seed,
        "max_steps": max_steps,
        "max_epochs": -1,
        "overrides": ["method=ga", f"seed={seed}", *overrides],
        "eval": {str(max_steps): final},
        "final_eval_step": str(max_steps),
    }
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_the_same_run_twice_is_an_error_naming_both_folders(tmp_path, capsys) -> None:
    first = _job(tmp_path / "sweep" / "a", seed=0, max_steps=6, forgotten=6)
    for n in range(12):  # the 13 copies of one run
        shutil.copytree(first, tmp_path / "sweep" / f"copy{n:02d}")
    with pytest.raises(DataError) as err:
        write_report([tmp_path / "sweep"], tmp_path / "out")
    message = str(err.value)
    assert f"{first} and {tmp_path / 'sweep' / 'copy00'} are the same experiment" in message
    assert "with the same seed 0: the same run twice" in message
    assert not (tmp_path / "out").exists()  # nothing written from a wrong pooling

    assert report_main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.startswith("error: ") and err_text.count("\n") == 1


def test_different_step_budgets_are_separate_rows(tmp_path) -> None:
    for seed in (0, 1):
        _job(tmp_path / f"short{seed}", seed, 2, 2, ["trainer.max_steps=2"])
        _job(tmp_path / f"long{seed}", seed, 6, 6 + seed, ["trainer.max_steps=6"])
    rows = build_rows(collect_runs([tmp_path]))
    assert sorted((r.steps, r.n, r.pooled["forget_rate"]) for r in rows) == [
        ("2", 2, (4, 40)),
        ("6", 2, (13, 40)),
    ]
    assert sorted(row_label(r, rows) for r in rows) == [
        "ga (trainer.max_steps=2, max_steps=2)",
        "ga (trainer.max_steps=6, max_steps=6)",
    ]


def test_a_budget_recorded_only_in_results_still_separates(tmp_path) -> None:
    """An experiment file changed between two sweeps: no override says so, results.json does."""
    _job(tmp_path / "old", 0, 2, 2)
    _job(tmp_path / "new", 1, 6, 6)
    rows = build_rows(collect_runs([tmp_path]))
    assert sorted((r.budget, r.n) for r in rows) == [
        ("max_steps=2 max_epochs=-1", 1),
        ("max_steps=6 max_epochs=-1", 1),
    ]


def test_seeds_pool_across_overrides_that_change_no_number(tmp_path) -> None:
    _job(tmp_path / "a", 0, 6, 6, ["logger=none", "trainer.enable_progress_bar=false"])
    _job(tmp_path / "b", 1, 6, 4, ["+logger.csv=false", "ckpt_path=last"])
    _job(tmp_path / "c", 2, 6, 5, ["method.lr=1e-3"])  # a different experiment
    rows = build_rows(collect_runs([tmp_path]))
    by_identity = {r.identity: r for r in rows}
    assert by_identity[()].seeds == ["0", "1"] and by_identity[()].pooled["forget_rate"] == (10, 40)
    assert by_identity[("method.lr=0.001",)].n == 1  # as Hydra reads 1e-3
    assert sorted(row_label(r, rows) for r in rows) == ["ga (defaults)", "ga (method.lr=0.001)"]


def test_one_folder_reached_twice_is_one_run(tmp_path, monkeypatch) -> None:
    _job(tmp_path / "sweep" / "0", 0, 6, 6)
    _job(tmp_path / "sweep" / "1", 1, 6, 5)
    monkeypatch.chdir(tmp_path)
    records = collect_runs([tmp_path / "sweep", Path("sweep/0"), tmp_path / "sweep" / "1"])
    (row,) = build_rows(records)
    assert len(records) == 2 and row.seeds == ["0", "1"]
