"""Running ``train.py`` as a multi-process job from a test (Lightning's ``ddp`` relaunches it).

One timeout for every subprocess of the distributed tests, generous because the 2-core test
machines are shared: a run that needs it has hung (a collective one rank never entered),
and the timeout only turns that hang into a failure. Nothing waits on the clock otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT, train_command
from unpact_exp.results import read_results

TIMEOUT_S = 600
"""Seconds one multi-process ``train.py`` may take before the test fails as hung."""

DDP_CPU = ("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
FSDP2_CPU = ("trainer=fsdp2", "trainer.devices=2")
FSDP_CPU = (
    "trainer=fsdp",
    "trainer.accelerator=cpu",
    "trainer.devices=2",
    "trainer.precision=32-true",
)
"""FSDP (v1) forced onto 2 CPU processes (gloo): see unpact_exp/training/trainer.py."""


def run_train(tmp_path: Path, artifacts: Path, *overrides: str) -> dict:
    """Run ``train.py`` with ``overrides`` in ``tmp_path/run``; return its ``results.json``.

    Each process gets one intra-op thread (``OMP_NUM_THREADS=1``), so two ranks on two
    cores do not oversubscribe them.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, *overrides)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return read_results(run_dir)
