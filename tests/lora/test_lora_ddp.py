"""``peft=lora`` under DDP with two CPU processes: both ranks end with the same adapters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, train_command
from unpact_exp.results import read_results


def test_lora_npo_kl_under_ddp(tmp_path: Path, artifacts: Path, tiny_target) -> None:
    run_dir = tmp_path / "run"
    cmd = train_command(
        tmp_path,
        artifacts,
        run_dir,
        "method=npo",
        "regularizer=kl",
        "peft=lora",
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_steps=3",
        "trainer.gradient_checkpointing=true",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(run_dir)
    assert results["status"] == "completed" and results["world_size"] == 2
    assert results["steps"] == 3
    first, second = results["rank_weight_checksums"]
    assert first == pytest.approx(second, rel=0, abs=0)
    assert (run_dir / "unlearned" / "adapter_config.json").is_file()
