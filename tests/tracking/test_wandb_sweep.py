"""A 2-setting, 2-seed sweep run as two seed streams (as ``make run-real`` runs them), logged to
W&B offline: one group, the keys, tags and names of each run, rates with counts and intervals,
constants kept out of the series, the per-question tables with every attack's columns, and the
report uploaded into the same group (real wandb; the runs are read back from their logs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SMALL_WORLD
from tests.tracking.offline_runs import offline_runs
from unpact_exp.evaluation.rows import BASE_FIELDS
from unpact_exp.report import main as report

SETTINGS = ("ga+gd", "npo+kl")
SWEEP_ID = "streams"
GROUP = f"tiny_world-{SWEEP_ID}"  # <experiment>-<logger.sweep_id>
ATTACK_COLUMNS = ("recovered_focus", "recovered_probab", "recovered_relearn", "relearn_answers")


def stream(tmp_path: Path, artifacts: Path, seed: int, folder: Path) -> None:
    """One ``train.py -m`` sweep of both settings at one seed (a stream of make run-real)."""
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "experiment=tiny_world",
        *SMALL_WORLD,
        f"setting={','.join(SETTINGS)}",
        f"seed={seed}",
        "logger=wandb",
        "logger.csv=false",
        f"logger.sweep_id={SWEEP_ID}",
        "trainer.enable_progress_bar=false",
        "trainer.max_steps=2",
        "metrics.every_step=[]",
        f"paths.root_dir={tmp_path}",
        f"paths.artifacts_dir={artifacts}",
        f"paths.data_dir={artifacts}/data",
        f"hydra.sweep.dir={folder}",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.timeout(1200)
def test_two_seed_streams_are_one_group_with_the_report(tmp_path, artifacts, tiny_target) -> None:
    sweep = tmp_path / "smollm2_like"
    for seed, name in ((0, "a"), (1, "b")):
        stream(tmp_path, artifacts, seed, sweep / name)
    runs = offline_runs(sweep)
    assert len(runs) == 4
    assert {r.group for r in runs} == {GROUP}  # both streams, one group
    assert {r.job_type for r in runs} == {"train"}
    assert sorted(r.name for r in runs) == [f"{s} seed={i}" for s in SETTINGS for i in (0, 1)]
    for run in runs:
        setting, seed = run.config["setting"], run.config["seed"]
        assert run.name == f"{setting} seed={seed}"
        method, regularizer = setting.split("+")
        assert (run.config["method"], run.config["regularizer"]) == (method, regularizer)
        assert run.config["token_weighting"] == "uniform" and run.config["peft"] == "none"
        assert run.config["cfg"]["data"]["n_forget"] == 6  # the composed config beside the keys
        assert run.tags == [setting, "tiny", "synthetic", "unlearn"]
        # Rates with their counts and intervals, at every evaluation (start and end).
        evaluations = [row for row in run.history if "eval/forget_rate" in row]
        assert [row["trainer/global_step"] for row in evaluations] == [0, 2]
        for row in evaluations:
            for key in ("forget_rate", "recovery_rate", "destructive_rate"):
                assert f"eval/{key}_k" in row and f"eval/{key}_n" in row, key
            assert row["eval/forget_rate_k"] <= row["eval/forget_rate_n"]
            low, high = row["eval/forget_rate_ci_low"], row["eval/forget_rate_ci_high"]
            assert low <= row["eval/forget_rate"] <= high
        final = evaluations[-1]
        assert final["eval/forget_rate_k"] == run.summary["eval/forget_rate_k"]
        # Budgets and M0's baselines are constants of the run, not series.
        series = {key for row in run.history for key in row}
        assert not [k for k in series if "_budget_" in k or k.endswith("_original")]
        constants = run.config["constants"]
        assert constants["focus_on_key_budget_prompts_per_question"] >= 1
        assert 0.0 <= constants["utility_original"] <= 1.0
        # The per-question table of each evaluation has every scheduled attack's columns,
        # relearn's included at step 0, where it did not run.
        tables = run.media("table", "eval/questions")
        assert len(tables) == 2
        for path in tables:
            columns = json.loads(path.read_text())["columns"]
            assert columns[: len(BASE_FIELDS)] == list(BASE_FIELDS)
            assert set(ATTACK_COLUMNS) <= set(columns)
        recorded = json.loads((run.folder.parents[1] / "results.json").read_text())
        assert recorded["wandb"]["group"] == GROUP and recorded["wandb"]["name"] == run.name

    # report.py --wandb: the report's tables and plots, in the sweep's group.
    out = tmp_path / "report"
    assert report([str(sweep / "a"), str(sweep / "b"), "--out", str(out), "--wandb"]) == 0
    (uploaded,) = offline_runs(out)
    assert (uploaded.group, uploaded.job_type) == (GROUP, "report")
    assert uploaded.config["setting"] == list(SETTINGS) and uploaded.config["completed"] == 4
    (results,) = uploaded.media("table", "report/results")
    table = json.loads(results.read_text())
    rows = {row[0]: dict(zip(table["columns"], row)) for row in table["data"]}
    assert set(rows) == set(SETTINGS) and all(r["n"] == "2" for r in rows.values())
    assert all("/" in r["forget rate (%)"] for r in rows.values())  # pooled counts (k/n)
    assert uploaded.media("images", "report/plots/dilemma")
