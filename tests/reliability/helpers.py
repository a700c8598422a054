"""Shared helpers of the reliability tests: small runs, their numbers, their weights.

Every wait of these tests is tied to an event (a file appearing, a line printed, a process
ending), and every bound on such a wait is set here, once, generously: a test fails when the
event never comes (a hung run), never because a loaded machine was slow (issue 26 item 7:
at load ~10 two resume tests died on a 240 s timeout). Subprocesses get one thread each
(``OMP_NUM_THREADS=1``), so a test's speed does not depend on how many cores it finds.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable
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


RUN_TIMEOUT_S = 1800.0
"""Bound on one whole subprocess run (``train.py`` on the small world takes ~15 s when quiet)."""
EVENT_TIMEOUT_S = 900.0
"""Bound on waiting for an event of a running process (a checkpoint file, a printed line)."""
POLL_S = 0.05
"""How often a wait looks for its event."""


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test environment plus ``PYTHONPATH`` to the repository, one thread per process."""
    threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return {**os.environ, **threads, "PYTHONPATH": str(ROOT), **extra}


def run_train(
    cmd: list[str], cwd: Path, timeout: float = RUN_TIMEOUT_S, **env: str
) -> subprocess.CompletedProcess:
    """Run ``cmd`` to completion, capturing its output."""
    return subprocess.run(
        cmd, cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True, timeout=timeout
    )


def wait_for(
    event: Callable[[], bool],
    proc: subprocess.Popen,
    what: str,
    timeout: float = EVENT_TIMEOUT_S,
) -> None:
    """Wait until ``event()`` holds; fail if ``proc`` ends first or after ``timeout`` seconds.

    Args:
        event: the condition waited for (e.g. a checkpoint file exists).
        proc: the process expected to bring it about.
        what: the event in words, for the failure message.
        timeout: a bound for a hung process only (see :data:`EVENT_TIMEOUT_S`).
    """
    deadline = time.monotonic() + timeout
    while not event():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            err = err.decode(errors="replace") if isinstance(err, bytes) else err
            raise AssertionError(f"process ended ({proc.returncode}) before {what}: {err[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:.0f} s")
        time.sleep(POLL_S)


def never_trains(monkeypatch: Any) -> None:
    """Make any training attempt fail the test: a refusal must come before ``Trainer.fit``.

    The event-based form of "refused in seconds, before any model is trained".
    """
    import lightning.pytorch as pl

    def fit(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started: the error should have come before it")

    monkeypatch.setattr(pl.Trainer, "fit", fit)


def never_loads_a_model(monkeypatch: Any) -> None:
    """Make any causal-LM load fail the test: a refusal must come before the model is read."""
    from transformers import AutoModelForCausalLM

    def from_pretrained(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded: the error should have come before it")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", from_pretrained)


SLACK_S = 30.0
"""What a loaded machine may add to an operation the code bounds by its own timeout: far below
the hangs those bounds guard against (W&B online init without network: ~100 s)."""
