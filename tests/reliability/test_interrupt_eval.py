"""SIGTERM during an evaluation batch inside training stops the run within one batch.

Lightning owns SIGTERM during ``fit`` and only acts on it at the next training step, while
the in-training evaluation runs inside ``on_train_batch_end``: before the stop flag
(:mod:`unpact_exp.stop`) a slow evaluation ignored the signal until it finished. Here the
signal is sent from inside the first generation batch of the step-5 evaluation, with one
prompt per batch so more batches follow. Step 5 had completed, so it is checkpointed
(Lightning's pre-emption convention; issue 26), and the rerun redoes its evaluation and ends
as an uninterrupted run. Messages name ``last.ckpt`` only when it exists.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.reliability.helpers import FAST_EVAL, assert_same_run, checkpoint
from unpact_exp import stop
from unpact_exp.results import read_results
from unpact_exp.run import SIGTERM_EXIT, main
from unpact_exp.unpact import generation

RUN = [
    *FAST_EVAL,
    "method=ga",
    "trainer.max_steps=10",
    "trainer.checkpoint_every_n_steps=2",
    "callbacks.evaluation.at_start=false",
    "callbacks.evaluation.every_n_steps=5",
    "eval.batch_size=1",
]


def test_sigterm_in_an_evaluation_batch_stops_within_seconds(
    make_cfg, tiny_target, monkeypatch
) -> None:
    cfg = make_cfg(*RUN)
    sent: list[float] = []
    batches_after: list[int] = []
    original = generation.left_pad

    def signal_in_first_batch(*args, **kwargs):
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            batches_after.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(generation, "left_pad", signal_in_first_batch)
    with pytest.raises(SystemExit) as exit_info:
        main(cfg)

    assert exit_info.value.code == SIGTERM_EXIT == 143
    assert batches_after == []  # within one batch: no generation batch started after the signal
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "interrupted" and "resume" in results["error"]
    assert results["steps"] == 5  # the step whose evaluation was interrupted had finished
    assert results["last_checkpoint_step"] == 5  # saved: a step completed since step 4's save
    assert "5" not in results["eval"]  # the interrupted evaluation is not recorded
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert checkpoint(cfg.paths.output_dir)["global_step"] == 5
    assert results["error"].endswith(f"it resumes from {last} (step 5)")
    assert not stop.stop_requested()  # the flag does not leak into the next run

    monkeypatch.undo()
    main(make_cfg(*RUN))  # the same command: resumes at step 5, evaluates it, goes on
    assert read_results(cfg.paths.output_dir)["eval"].keys() >= {"5", "10"}
    reference = make_cfg(*RUN, output="reference")
    main(reference)
    assert_same_run(Path(cfg.paths.output_dir), Path(reference.paths.output_dir))


def test_sigterm_before_the_first_step_names_no_checkpoint(
    make_cfg, tiny_target, monkeypatch
) -> None:
    """Issue 26: the message said "resume from checkpoints/last.ckpt", which did not exist."""
    cfg = make_cfg(*FAST_EVAL, "method=ga", "trainer.max_steps=10")  # evaluates at step 0
    original = generation.left_pad

    def signal_in_step_0_evaluation(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(generation, "left_pad", signal_in_step_0_evaluation)
    with pytest.raises(SystemExit) as exit_info:
        main(cfg)
    assert exit_info.value.code == 143
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "interrupted" and results["steps"] == 0
    assert not (Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt").exists()
    assert "last.ckpt" not in results["error"]
    assert results["error"].endswith(
        "no training step had completed, so there is no checkpoint: it starts again"
    )


def test_sigterm_in_eval_py_names_no_checkpoint(make_cfg, tiny_target, monkeypatch) -> None:
    from unpact_exp.models.loading import target_dir

    folder = target_dir(make_cfg().paths.artifacts_dir, "tiny", "synthetic")
    cfg = make_cfg(f"unlearned={folder}", config_name="evaluate")
    original = generation.left_pad

    def signal_in_a_batch(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(generation, "left_pad", signal_in_a_batch)
    with pytest.raises(SystemExit) as exit_info:
        main(cfg)
    assert exit_info.value.code == 143
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "interrupted" and "last.ckpt" not in results["error"]
    assert results["error"].endswith(
        "rerun the same command (same run dir): it runs this stage again"
    )


def test_check_stop_raises_only_after_a_request() -> None:
    stop.reset()
    stop.check_stop()  # nothing requested: returns
    stop.request_stop("received signal 15 (SIGTERM)")
    with pytest.raises(stop.Interrupted, match="SIGTERM"):
        stop.check_stop()
    stop.reset()
    assert not stop.stop_requested()


def test_sigterm_ends_an_endless_run_with_its_steps_recorded(
    make_cfg, tiny_target, monkeypatch
) -> None:
    """Issue 17 case 2: an allowed endless run stopped by SIGTERM had ``steps: null``."""
    from unpact_exp.training.module import UnlearnModule

    cfg = make_cfg("trainer.max_steps=-1", "trainer.max_epochs=-1", "trainer.allow_endless=true")

    def signal_at_step_2(self, *args):  # mid-epoch: the state is checkpointed (checkpoints.py)
        if self.trainer.global_step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(UnlearnModule, "on_train_batch_end", signal_at_step_2, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(cfg)
    assert exit_info.value.code == 143
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "interrupted"
    saved = checkpoint(cfg.paths.output_dir)["global_step"]
    assert results["steps"] == results["last_checkpoint_step"] == saved == 2
