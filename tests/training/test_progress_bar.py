"""The progress bar names the step limit of step-bounded runs (not "Epoch 2/-2")."""

from __future__ import annotations

from types import SimpleNamespace

from unpact_exp.training.progress import StepProgressBar
from unpact_exp.training.trainer import progress_bar


def _description(max_epochs: int, max_steps: int, epoch: int) -> str:
    bar = StepProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=max_epochs, max_steps=max_steps)
    return bar._get_train_description(epoch)


def test_step_bounded_run_names_the_step_limit() -> None:
    assert _description(-1, 20, 2).strip() == "Epoch 2 (stops at step 20)"


def test_epoch_bounded_run_keeps_lightnings_wording() -> None:
    assert _description(5, -1, 2).strip() == "Epoch 2/4"


def test_no_bar_when_disabled() -> None:
    assert progress_bar(False) == []
    assert isinstance(progress_bar(True)[0], StepProgressBar)
