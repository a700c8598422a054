"""Shared helpers of the reliability tests: small runs, their numbers, their weights."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from unpact_exp.results import read_results

# In-training evaluation on a few items only: every number of results.json, in seconds.
FAST_EVAL = [
    "callbacks=default",
    "eval.heatmap_questions=0",
    "eval.max_forget_questions=3",
    "eval.max_utility_items=2",
]


def weights(run_dir: Path) -> dict[str, Any]:
    """The tensors of ``<run_dir>/unlearned``."""
    from safetensors.torch import load_file

    return load_file(str(Path(run_dir) / "unlearned" / "model.safetensors"))


def checkpoint(run_dir: Path) -> dict[str, Any]:
    """``<run_dir>/checkpoints/last.ckpt`` (trusted: written by the test's own run)."""
    import torch

    return torch.load(Path(run_dir) / "checkpoints" / "last.ckpt", weights_only=False)


def numbers(results: dict[str, Any]) -> dict[str, Any]:
    """What two equivalent runs must agree on: evaluations, losses, steps, status."""
    keys = ("status", "steps", "epochs", "final_losses", "eval", "final_eval_step")
    return {k: results.get(k) for k in keys}


def assert_close(a: Any, b: Any, tol: float = 1e-5, where: str = "") -> None:
    """Recursive equality with ``tol`` on floats (None == None, NaN-free by construction)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_close(a[key], b[key], tol, f"{where}.{key}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{where}: {a} != {b}"
        assert math.isclose(a, b, rel_tol=0, abs_tol=tol), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a} != {b}"


def assert_same_run(run_a: Path, run_b: Path, tol: float = 1e-5) -> None:
    """Same ``results.json`` numbers and the same unlearned weights (within ``tol``)."""
    assert_close(numbers(read_results(run_a)), numbers(read_results(run_b)), tol, "results")
    wa, wb = weights(run_a), weights(run_b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert float((wa[name] - wb[name]).abs().max()) <= tol, name


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test environment plus ``PYTHONPATH`` to the repository."""
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def run_train(cmd: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion, capturing its output."""
    return subprocess.run(
        cmd, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
