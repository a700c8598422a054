"""Checkpoints a run resumes from: ``<run dir>/checkpoints/last.ckpt``, and nothing after divergence.

One file is kept (``save_top_k=0``, ``save_last=True``), rewritten atomically by
Lightning (fsspec transaction: temp file, then rename), so a kill never leaves a
truncated ``last.ckpt``. It is written:

- every ``trainer.checkpoint_every_n_steps`` optimizer steps (0: at each epoch end);
- at the end of training, before any post-fit step (task-vector negation), so a run
  killed while evaluating or saving resumes without training again;
- when Lightning stops on SIGTERM (it raises ``SIGTERMException`` at the next step
  boundary, where the state is consistent), so a pre-empted run loses no step.

After a divergence nothing more is written: ``last.ckpt`` stays the last finite one.
The RNG states travel in the checkpoint too (:class:`RngState`), so anything that
draws random numbers during training (dropout) resumes exactly.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

LAST = "last.ckpt"


def _diverged(module: Any) -> bool:
    return getattr(module, "divergence", None) is not None


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` keeping only ``last.ckpt``, saving on SIGTERM and at the end of fit.

    Args:
        dirpath: the run's ``checkpoints`` folder.
        every_n_steps: save every this many optimizer steps (0: at each epoch end).
    """

    def __init__(self, dirpath: str | Path, every_n_steps: int) -> None:
        super().__init__(
            dirpath=str(dirpath),
            save_last=True,
            save_top_k=0,
            every_n_train_steps=every_n_steps or None,
        )
        self.last_path = Path(dirpath) / LAST
        self.saved_step: int | None = None

    def on_save_checkpoint(self, trainer: pl.Trainer, module: Any, checkpoint: dict) -> None:
        """Remember the step of the latest checkpoint (for ``last_checkpoint_step``)."""
        self.saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """Periodic save, unless the run diverged."""
        if not _diverged(module):
            super().on_train_batch_end(trainer, module, *args)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Epoch-end save, unless the run diverged."""
        if not _diverged(module):
            super().on_train_epoch_end(trainer, module)

    def on_validation_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Unlearning has no validation loop; never save from here."""

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Save the final training state (callbacks run before the module's post-fit step)."""
        if not _diverged(module) and self.saved_step != trainer.global_step:
            trainer.save_checkpoint(self.last_path)

    def on_exception(self, trainer: pl.Trainer, module: Any, exception: BaseException) -> None:
        """On SIGTERM (raised at a step boundary), save so the resumed run loses nothing.

        Other exceptions can strike mid-step (a half-applied optimizer update), so
        they never trigger a save: the previous ``last.ckpt`` is kept instead.
        """
        if isinstance(exception, SIGTERMException) and not _diverged(module):
            if self.saved_step != trainer.global_step:
                trainer.save_checkpoint(self.last_path)


class RngState(pl.Callback):
    """Saves and restores the Python and torch CPU/CUDA RNG states with each checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        """The current RNG states."""
        state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the RNG states saved with the checkpoint being resumed."""
        random.setstate(state["python"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
