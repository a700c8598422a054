"""Sweeps: `train.py -m` with the basic launcher, submitit_local, DDP inside a sweep, SLURM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CONF, QUIET, ROOT, SMALL_WORLD


def sweep(tmp_path: Path, artifacts: Path, *overrides: str, expect_ok: bool = True):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "experiment=tiny_world",
        *QUIET,
        f"paths.root_dir={tmp_path}",
        f"paths.artifacts_dir={artifacts}",
        f"paths.data_dir={artifacts}/data",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *overrides,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    if expect_ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("*/results.json"))
    return proc, {p.parent.name: json.loads(p.read_text()) for p in jobs}


def test_method_sweep_runs_four_real_jobs(tmp_path, artifacts, tiny_target) -> None:
    _, jobs = sweep(tmp_path, artifacts, "method=ga,npo,tv,rmu", "trainer.max_steps=3")
    assert len(jobs) == 4
    for i, (name, method) in enumerate(zip(sorted(jobs), ["ga", "npo", "tv", "rmu"])):
        assert name.startswith(f"{i}_") and f"method={method}" in name.split(",")
    for name, results in jobs.items():
        assert results["status"] == "completed", name
        assert (tmp_path / "sweep" / name / "unlearned" / "config.json").exists()
    assert [r["method"] for r in jobs.values()] == ["ga", "npo", "tv", "rmu"]


def test_submitit_local_sweep(tmp_path, artifacts, tiny_target) -> None:
    _, jobs = sweep(
        tmp_path,
        artifacts,
        "hydra/launcher=submitit_local",
        "method=ga,npo",
        "trainer.max_steps=2",
    )
    assert [n[:2] for n in sorted(jobs)] == ["0_", "1_"]
    assert all(r["status"] == "completed" for r in jobs.values())
    assert list((tmp_path / "sweep" / ".submitit").iterdir())  # really went through submitit


def test_ddp_two_cpu_processes_inside_a_sweep(tmp_path, artifacts, tiny_target) -> None:
    """Lightning's ddp would re-run the sweep in rank 1; inside -m it runs as ddp_spawn."""
    proc, jobs = sweep(
        tmp_path,
        artifacts,
        "method=ga,npo",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_steps=2",
    )
    assert len(jobs) == 2, proc.stderr[-2000:]
    for results in jobs.values():
        assert results["status"] == "completed" and results["world_size"] == 2
        assert results["rank_weight_checksums"][0] == results["rank_weight_checksums"][1]
    # rank 1 did not start a sweep of its own
    assert len(list((tmp_path / "sweep").glob("*/results.json"))) == 2
    assert not list((tmp_path / "multirun").glob("*")) if (tmp_path / "multirun").exists() else True


def test_one_failing_job_does_not_stop_the_others(tmp_path, artifacts, tiny_target) -> None:
    proc, jobs = sweep(
        tmp_path,
        artifacts,
        "method=ga,npo,tv",
        "method.lr=0.001,-1",
        "trainer.max_steps=2",
        expect_ok=False,
    )
    assert proc.returncode != 0
    statuses = {name: r["status"] for name, r in jobs.items()}
    assert len(statuses) == 6
    failed = sorted(n for n, s in statuses.items() if s == "failed")
    assert failed == [n for n in sorted(statuses) if "method.lr=-1" in n]
    assert all(s == "completed" for n, s in statuses.items() if n not in failed)
    for name in failed:  # each failure is named, with its error, on the console
        assert f"job {name.split('_')[0]} FAILED" in proc.stderr + proc.stdout
        assert "method.lr=-1.0 is out of range; it must be > 0" in jobs[name]["error"]

    # report.py on the real sweep: the three completed jobs in the table, the failed listed.
    from unpact_exp.report import main as report

    assert report([str(tmp_path / "sweep")]) == 0
    text = (tmp_path / "sweep" / "report" / "report.md").read_text()
    assert "Jobs: 6 found" in text and "## Failed and unfinished jobs (3)" in text
    for name in failed:
        assert name in text


def test_slurm_launcher_submits_with_configured_parameters(monkeypatch, tmp_path) -> None:
    """Compose hydra/launcher=slurm and run the real plugin's launch() against a fake executor."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    captured: dict = {}

    class FakeJob:
        def results(self):
            return [None]

    class FakeExecutor:
        def __init__(self, cluster, **init):
            captured["cluster"], captured["init"] = cluster, init

        def update_parameters(self, **params):
            captured["params"] = params

        def map_array(self, fn, *args):
            captured["jobs"] = list(zip(*args))
            return [FakeJob() for _ in captured["jobs"]]

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose(
            "train",
            overrides=[
                "hydra/launcher=slurm",
                "hydra.launcher.partition=a100",
                "hydra.launcher.gpus_per_node=4",
                "hydra.launcher.tasks_per_node=4",
                f"hydra.sweep.dir={tmp_path}",
                "trainer=fsdp",
                "trainer.devices=4",
            ],
            return_hydra_config=True,
        )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    launcher.launch([["setting=ga+gd"], ["setting=rmu"]], initial_job_idx=0)
    assert captured["cluster"] == "slurm"
    assert captured["init"]["slurm_max_num_timeout"] == 3  # pre-emption requeues
    params = captured["params"]
    assert params["slurm_partition"] == "a100"
    assert params["gpus_per_node"] == 4 and params["tasks_per_node"] == 4
    assert params["nodes"] == 1 and params["timeout_min"] == 720
    assert params["slurm_signal_delay_s"] == 120
    assert [job[0] for job in captured["jobs"]] == [["setting=ga+gd"], ["setting=rmu"]]
    assert cfg.trainer.devices == params["tasks_per_node"]


@pytest.mark.parametrize("name", ["ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu", "ga", "npo"])
def test_settings_compose_to_the_paper_pairs(name, make_cfg) -> None:
    cfg = make_cfg(f"setting={name}")
    method, _, reg = name.partition("+")
    assert cfg.method.name == method and cfg.regularizer.name == (reg or "none")


def test_paper_grid_experiment_sweeps_the_six_settings_and_ablations() -> None:
    from omegaconf import OmegaConf

    grid = OmegaConf.load(CONF / "experiment" / "paper_grid.yaml")
    settings = grid.hydra.sweeper.params.setting.split(",")
    assert settings == ["ga+gd", "ga+kl", "npo+gd", "npo+kl", "tv", "rmu", "ga", "npo"]


def test_tiny_world_experiment_matches_the_test_world(make_cfg) -> None:
    """Subprocess tests use experiment=tiny_world; in-process ones SMALL_WORLD: same target."""
    a = make_cfg()
    b = make_cfg("experiment=tiny_world")
    assert a.data == b.data and a.model == b.model
    assert len(SMALL_WORLD) == 10
