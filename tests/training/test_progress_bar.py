"""Training progress: the bar names the step limit (not "Epoch 2/-2"); without a terminal,
one log line every N steps instead of a bar that only a terminal can show."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from unpact_exp.errors import UnpactConfigError
from unpact_exp.training.progress import (
    StepLines,
    StepProgressBar,
    TrainingProgress,
    progress_callbacks,
    training_progress,
)


def _description(max_epochs: int, max_steps: int, epoch: int) -> str:
    bar = StepProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=max_epochs, max_steps=max_steps)
    return bar._get_train_description(epoch)


def test_step_bounded_run_names_the_step_limit() -> None:
    assert _description(-1, 20, 2).strip() == "Epoch 2 (stops at step 20)"


def test_epoch_bounded_run_keeps_lightnings_wording() -> None:
    assert _description(5, -1, 2).strip() == "Epoch 2/4"


def test_a_described_bar_says_what_it_builds() -> None:
    bar = StepProgressBar(lambda trainer: f"target build x: epoch 1/{trainer.max_epochs}")
    bar._trainer = SimpleNamespace(max_epochs=40, max_steps=-1)
    assert bar._get_train_description(0) == "target build x: epoch 1/40"


@pytest.mark.parametrize(
    ("enabled", "mode", "expected"),
    [(False, "bar", []), (True, "bar", [StepProgressBar]), (True, "lines", [StepLines]),
     (True, "auto", [StepLines])],  # auto under pytest: no terminal
)  # fmt: skip
def test_the_bar_on_a_terminal_lines_otherwise(enabled, mode, expected) -> None:
    found = progress_callbacks(TrainingProgress(enabled, mode, 5))
    assert [type(c) for c in found] == expected


def test_progress_keys_compose_and_are_checked(make_cfg) -> None:
    progress = training_progress(make_cfg("trainer.progress=lines").trainer)
    assert (progress.progress, progress.progress_every_n_steps, progress.style) == (
        "lines",
        10,
        "off",  # the tests' QUIET turns training progress off altogether
    )
    with pytest.raises(UnpactConfigError, match=r"trainer\.progress='often' is not valid"):
        training_progress(make_cfg("trainer.progress=often").trainer)
    with pytest.raises(UnpactConfigError, match=r"trainer\.progress_every_n_steps=0 is out of"):
        training_progress(make_cfg("trainer.progress_every_n_steps=0").trainer)


def _trainer(step: int, max_steps: int = 20) -> SimpleNamespace:
    return SimpleNamespace(
        global_step=step,
        max_steps=max_steps,
        max_epochs=-1,
        current_epoch=0,
        is_global_zero=True,
        progress_bar_metrics={"train/forget_loss": -0.80642, "train/reg_loss": 1.5},
    )


def test_step_lines_every_n_steps_and_at_the_last(caplog) -> None:
    lines = StepLines(every_n_steps=5)
    with caplog.at_level(logging.INFO, logger="unpact_exp.progress"):
        lines.on_train_start(_trainer(0), None)
        for step in [1, 2, 3, 4, 5, 5, 6, 10, 12]:  # 5 twice: gradient accumulation
            lines.on_train_batch_end(_trainer(step, max_steps=12), None)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "training: 20 steps; a line every 5 steps"
    steps = [m.split(":")[0] for m in messages[1:]]
    assert steps == ["train step 5/12", "train step 10/12", "train step 12/12"]
    assert "forget_loss -0.8064, reg_loss 1.5 (" in messages[1] and "s/step" in messages[1]
