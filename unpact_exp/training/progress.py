"""The training progress bar: Lightning's rich bar, worded for step-bounded runs.

Unlearning runs stop at ``trainer.max_steps`` with ``max_epochs=-1``, for which
Lightning's bar reads "Epoch 2/-2". This one says "Epoch 2 (stops at step 20)" then.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar


class StepProgressBar(RichProgressBar):
    """A ``RichProgressBar`` that names the step limit instead of a negative epoch count."""

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        if trainer.max_epochs is not None and trainer.max_epochs < 0 and trainer.max_steps > 0:
            return f"Epoch {current_epoch} (stops at step {trainer.max_steps})"
        return super()._get_train_description(current_epoch)
