"""Two CPU processes (gloo): DDP and FSDP2 train, and every rank ends with the same model.

These drive `train.py` as a subprocess because Lightning's `ddp` relaunches the
script for rank 1; each run is a few steps on the small tiny target.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, train_command
from unpact_exp.results import read_results


def run_train(tmp_path: Path, artifacts: Path, *overrides: str) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, *overrides)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return read_results(run_dir)


@pytest.mark.parametrize(
    "strategy",
    [
        ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"],
        ["trainer=fsdp2", "trainer.devices=2"],
    ],
    ids=["ddp", "fsdp2"],
)
@pytest.mark.parametrize(("method", "reg"), [("npo", "kl"), ("rmu", "none")])
def test_two_processes_agree(strategy, method, reg, tmp_path, artifacts, tiny_target) -> None:
    results = run_train(
        tmp_path,
        artifacts,
        f"method={method}",
        f"regularizer={reg}",
        "trainer.max_steps=3",
        *strategy,
    )
    assert results["status"] == "completed"
    assert results["world_size"] == 2
    assert results["sharded"] == ("trainer=fsdp2" in strategy)
    assert results["steps"] == 3
    first, second = results["rank_weight_checksums"]
    assert first == pytest.approx(second, rel=0, abs=0)
    assert (tmp_path / "run" / "unlearned" / "config.json").exists()


def test_evaluation_under_ddp_matches_one_process(tmp_path, artifacts, tiny_target) -> None:
    """Rank 0 evaluates a full copy while rank 1 waits: no deadlock, no rank-dependent numbers.

    At step 0 both runs evaluate the untouched target, so every metric must be identical.
    """
    common = [
        "method=ga",
        "regularizer=none",
        "trainer.max_steps=2",
        "callbacks=default",
        "callbacks.unpact_eval.every_n_steps=1",
    ]
    ddp = run_train(
        tmp_path / "ddp",
        artifacts,
        *common,
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
    )
    single = run_train(tmp_path / "single", artifacts, *common)
    assert ddp["world_size"] == 2 and ddp["status"] == "completed"
    assert list(ddp["eval"]) == ["0", "1", "2"] == list(single["eval"])
    assert ddp["eval"]["0"] == single["eval"]["0"]
