"""What a user sees at the entry points (issue 26), as real processes.

- Unknown config options: Hydra's multi-line message and exit 1, where README promises one
  line and exit 2.
- ``eval.py`` without ``unlearned=``: a ``MissingMandatoryValue`` traceback.
- A run folder Hydra cannot create, and ``ulimit -f`` below a checkpoint's size (the kernel's
  ``SIGXFSZ`` killed the process without a word).
- Ctrl-C recorded as "SystemExit: 1"; a divergence with nothing on the console.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, train_command
from tests.reliability.helpers import (
    EVENT_TIMEOUT_S,
    RUN_TIMEOUT_S,
    run_train,
    subprocess_env,
    wait_for,
)
from unpact_exp.results import read_results


def _entry(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_train([sys.executable, str(ROOT / script), *args], cwd)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("script", "override", "expected"),
    [
        ("train.py", "foo=1", "error: Could not override 'foo'. To append to your config use "
         "+foo=1; Key 'foo' is not in struct"),
        ("train.py", "trainer.max_stepz=5", "error: Could not override 'trainer.max_stepz'."),
        ("train.py", "method=gaa", "error: In 'train': Could not find 'method/gaa'; Available "
         "options in 'method': ga; idkdpo; npo; placebo; retrain; rmu; simnpo; tv; undial"),
        ("eval.py", "eval.nope=1", "error: Could not override 'eval.nope'."),
        ("analyze.py", "unpact.alhpa=0.2", "error: Could not override 'unpact.alhpa'."),
        ("train.py", "method.lr=[", "error: no viable alternative at input '['"),
    ],
    ids=["unknown-key", "nested-typo", "unknown-option", "eval.py", "analyze.py", "syntax"],
)  # fmt: skip
def test_hydra_errors_are_one_line_and_exit_2(script, override, expected, tmp_path) -> None:
    quiet = [] if script == "analyze.py" else ["logger=none"]  # analyze has no logger group
    proc = _entry(script, override, *quiet, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert _one_error_line(proc).startswith(expected)


def test_hydra_full_error_still_shows_the_traceback(tmp_path) -> None:
    proc = run_train(
        [sys.executable, str(ROOT / "train.py"), "foo=1", f"hydra.run.dir={tmp_path}/run"],
        tmp_path,
        HYDRA_FULL_ERROR="1",
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "foo" in proc.stderr


def test_eval_py_without_unlearned_is_one_message(tmp_path) -> None:
    proc = _entry("eval.py", "logger=none", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path)
    assert _one_error_line(proc).startswith("error: eval.py needs unlearned=DIR, the model to ")
    assert not (tmp_path / "run" / "results.json").exists()  # refused before the folder is used


def test_a_run_folder_hydra_cannot_create_is_one_message(tmp_path) -> None:
    target = "/sys/unpact-run-folder"
    if os.access("/sys", os.W_OK) and not Path("/sys").is_mount():  # pragma: no cover
        pytest.skip("/sys is an ordinary folder here")
    proc = _entry("train.py", "logger=none", f"hydra.run.dir={target}", cwd=tmp_path)
    line = _one_error_line(proc)
    assert line.startswith(f"error: cannot write {target} (Operation not permitted); choose a ")
    assert "hydra.run.dir=DIR" in line


QUICK = ["method=ga", "trainer.max_steps=6", "trainer.checkpoint_every_n_steps=2"]


def test_ulimit_f_below_a_checkpoint_is_one_message(tmp_path, artifacts, tiny_target) -> None:
    """``ulimit -f 256`` (KiB): results.json fits, ``last.ckpt`` (~1.4 MB) does not."""
    limit = 256 * 1024

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run_dir = tmp_path / "run"
    proc = subprocess.run(
        train_command(tmp_path, artifacts, run_dir, *QUICK),
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        preexec_fn=small_files,
    )
    line = _one_error_line(proc)  # not killed by SIGXFSZ (-25), not a traceback
    assert "(File too large): raise the file size limit (ulimit -f)" in line
    assert (
        line.endswith("no training step had completed, so there is no checkpoint: it starts again.")
        or "it resumes from" in line
    )
    results = read_results(run_dir)
    assert results["status"] == "failed" and "File too large" in results["error"]

    rerun = run_train(train_command(tmp_path, artifacts, run_dir, *QUICK), tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]  # with the limit lifted, it completes
    assert read_results(run_dir)["status"] == "completed"


def test_ctrl_c_in_a_real_run_is_recorded_as_such(tmp_path, artifacts, tiny_target) -> None:
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, "method=ga", "trainer.max_steps=200",
                        "trainer.checkpoint_every_n_steps=1")  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for((run_dir / "checkpoints" / "last.ckpt").exists, proc, "first checkpoint")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=EVENT_TIMEOUT_S)
    assert proc.returncode == 130
    results = read_results(run_dir)
    assert results["status"] == "interrupted" and "SystemExit" not in results["error"]
    assert results["error"].startswith("KeyboardInterrupt (Ctrl-C); rerun the same command")


def test_divergence_is_printed_on_the_console(tmp_path, artifacts, tiny_target) -> None:
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, "method=ga", "method.lr=1e15",
                        "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=1")  # fmt: skip
    proc = run_train(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]  # a divergence is a result
    console = proc.stdout + proc.stderr
    assert "training diverged at step 2 (non-finite" in console
    assert "unlearned/ = weights of step 1" in console
