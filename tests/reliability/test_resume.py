"""Resume: a run stopped mid-training and rerun with the same command ends exactly as an
uninterrupted run (same unlearned weights, same results.json numbers, CPU, tolerance 1e-5).

In-process tests crash a run right after step k (the state a SIGKILL after that step's
checkpoint leaves on disk: ``last.ckpt`` at step k, ``results.json`` still ``running``-ish)
and rerun it; subprocess tests send real SIGKILL and SIGTERM to ``train.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg, train_command
from tests.reliability.helpers import (
    EVENT_TIMEOUT_S,
    FAST_EVAL,
    assert_same_run,
    checkpoint,
    run_train,
    subprocess_env,
    wait_for,
)
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.training.module import UnlearnModule

# 20 forget QA pairs, batch 8: 3 steps per epoch, so 7 steps cross two epoch boundaries.
SETTINGS = {
    "npo": ["method=npo", "trainer.max_steps=7"],
    "npo+eval": ["method=npo", "trainer.max_steps=7", *FAST_EVAL,
                 "callbacks.evaluation.every_n_steps=3"],
    "ga+gd": ["method=ga", "regularizer=gd", "trainer.max_steps=7"],  # paired retain batches
    "tv": ["method=tv"],  # epoch-based (4 epochs), negation after fit
    # 2 retain QA pairs, batch 1: the retain loader cycles (max_size_cycle) inside an epoch
    "ga+gd-cycling": ["method=ga", "regularizer=gd", "data.retain_qa=knowmem/retain_qa_icl",
                      "method.batch_size=1", "trainer.max_steps=6"],
}  # fmt: skip
CKPT_EVERY_STEP = "trainer.checkpoint_every_n_steps=1"


class Crash(RuntimeError):
    """Stands in for a kill: raised after a step's checkpoint was written."""


def _cfg(run_dir: Path, artifacts: Path, *overrides: str):
    return compose_cfg([*SMALL_WORLD, *QUIET, *overrides], run_dir, artifacts)


@pytest.fixture(scope="module")
def references(tmp_path_factory, artifacts, tiny_target):
    """Uninterrupted runs, one per setting, made on first use."""
    done: dict[str, Path] = {}

    def get(setting: str) -> Path:
        if setting not in done:
            run_dir = tmp_path_factory.mktemp(f"ref-{setting.replace('+', '_')}")
            main(_cfg(run_dir, artifacts, *SETTINGS[setting], CKPT_EVERY_STEP))
            done[setting] = run_dir
        return done[setting]

    return get


def _crash_after(monkeypatch, step: int | str) -> None:
    """Crash after ``step`` (module hook: runs after the checkpoint callback) or at fit end."""
    if step == "end":  # killed while evaluating/saving the final model
        from unpact_exp.callbacks.finalize import SaveUnlearned

        def crash_at_end(self, trainer, module):
            raise Crash("killed during the final save")

        monkeypatch.setattr(SaveUnlearned, "on_fit_end", crash_at_end)
        return

    def crash(self, *args):
        if self.trainer.global_step == step:
            raise Crash(f"killed after step {step}")

    monkeypatch.setattr(UnlearnModule, "on_train_batch_end", crash, raising=False)


@pytest.mark.parametrize(
    ("setting", "step"),
    [("npo", 1), ("npo+eval", 4), ("ga+gd", 3), ("ga+gd-cycling", 3), ("tv", 5), ("tv", "end")],
    ids=[
        "npo-epoch-1",
        "npo-epoch-2-eval-history",
        "ga+gd-at-epoch-end",
        "ga+gd-cycling-retain",
        "tv-finetune",
        "tv-after-fit",
    ],
)
def test_rerun_after_crash_matches_uninterrupted(
    setting, step, references, tmp_path, artifacts, monkeypatch
) -> None:
    run_dir = tmp_path / "run"
    overrides = [*SETTINGS[setting], CKPT_EVERY_STEP]
    with monkeypatch.context() as patch:
        _crash_after(patch, step)
        with pytest.raises(Crash):
            main(_cfg(run_dir, artifacts, *overrides))
    assert read_results(run_dir)["status"] == "failed"
    assert not (run_dir / "unlearned").exists() or step == "end"
    stopped_at = checkpoint(run_dir)["global_step"]
    if step != "end":
        assert stopped_at == step

    before = read_results(run_dir)["eval"]
    main(_cfg(run_dir, artifacts, *overrides))  # the same command again
    results = read_results(run_dir)
    assert results["resumed_from"] == str(run_dir / "checkpoints" / "last.ckpt")
    assert set(before) <= set(results["eval"])  # the evaluation history survived the restart
    assert_same_run(run_dir, references(setting))


def test_npo_reference_cache_comes_back_from_the_checkpoint(
    references, tmp_path, artifacts, monkeypatch
) -> None:
    """The resumed run must not recompute NPO's cache with the partly unlearned policy."""
    from unpact_exp.methods.npo import NPO

    run_dir = tmp_path / "run"
    overrides = ["method=npo", "trainer.max_steps=7", CKPT_EVERY_STEP]
    with monkeypatch.context() as patch:
        _crash_after(patch, 4)
        with pytest.raises(Crash):
            main(_cfg(run_dir, artifacts, *overrides))
    saved = checkpoint(run_dir)["state_dict"]["objective.ref_logp"].clone()

    seen: list[bool] = []
    original = NPO.on_fit_start

    def spy(self, ctx):
        seen.append(bool(self.cache_ready))
        return original(self, ctx)

    monkeypatch.setattr(NPO, "on_fit_start", spy)
    main(_cfg(run_dir, artifacts, *overrides))
    assert seen == [True]  # restored before on_fit_start: nothing recomputed
    final = checkpoint(run_dir)["state_dict"]["objective.ref_logp"]
    assert torch.equal(final, saved)


# ---------------------------------------------------------------- real signals, subprocesses

# 10 steps, a checkpoint every 2, an evaluation every 5 (a handful of items): the process is
# killed as soon as the first checkpoint exists, long before the end.
SIGNAL_RUN = [
    "method=npo",
    "trainer.max_steps=10",
    "trainer.checkpoint_every_n_steps=2",
    *FAST_EVAL,
    "callbacks.evaluation.every_n_steps=5",
]


@pytest.fixture(scope="module")
def signal_reference(tmp_path_factory, artifacts, tiny_target) -> Path:
    """The uninterrupted subprocess run the killed runs must reproduce."""
    tmp = tmp_path_factory.mktemp("signal-ref")
    run_dir = tmp / "run"
    proc = run_train(train_command(tmp, artifacts, run_dir, *SIGNAL_RUN), tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


def _start_and_signal(cmd: list[str], cwd: Path, run_dir: Path, signum: int) -> int:
    """Start ``cmd``; send ``signum`` once the first checkpoint exists; return the exit code."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    wait_for(last.exists, proc, "first checkpoint")
    os.kill(proc.pid, signum)
    proc.communicate(timeout=EVENT_TIMEOUT_S)
    return proc.returncode


def test_sigkill_then_same_command_resumes(tmp_path, artifacts, signal_reference) -> None:
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, *SIGNAL_RUN)
    code = _start_and_signal(cmd, tmp_path, run_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert read_results(run_dir)["status"] == "running"  # nothing could be written
    assert checkpoint(run_dir)["global_step"] < 10
    assert not (run_dir / "unlearned").exists()

    proc = run_train(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_results(run_dir)["status"] == "completed"
    assert_same_run(run_dir, signal_reference)


def test_sigterm_checkpoints_exits_interrupted_and_resumes(
    tmp_path, artifacts, signal_reference
) -> None:
    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, *SIGNAL_RUN)
    code = _start_and_signal(cmd, tmp_path, run_dir, signal.SIGTERM)
    assert code == 143  # 128 + SIGTERM, never 0
    results = read_results(run_dir)
    assert results["status"] == "interrupted" and "resume" in results["error"]
    stopped = checkpoint(run_dir)["global_step"]
    assert 2 <= stopped < 10  # saved at the step boundary after the signal
    assert not (run_dir / "unlearned").exists()

    proc = run_train([*cmd, "ckpt_path=last"], tmp_path)  # explicit form of the same resume
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(run_dir)
    assert results["status"] == "completed"
    assert "0" in results["eval"]  # the history from before the signal survived
    assert_same_run(run_dir, signal_reference)
