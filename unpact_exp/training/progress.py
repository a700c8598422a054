"""Training progress: Lightning's rich bar on a terminal, one log line per N steps otherwise.

Unlearning runs stop at ``trainer.max_steps`` with ``max_epochs=-1``, for which
Lightning's bar reads "Epoch 2/-2"; :class:`StepProgressBar` says "Epoch 2 (stops at step
20)" then. In a batch job (SLURM, output redirected to a file) the bar is drawn once, at
the end, so the log showed no progress at all: there :class:`StepLines` logs one line every
``trainer.progress_every_n_steps`` optimizer steps (and at the last), with the losses the
bar shows, the step out of ``max_steps`` and the time per step.

Which one follows ``trainer.progress`` (``auto``: the bar on an interactive terminal, lines
otherwise; ``bar`` / ``lines`` force one) when ``trainer.enable_progress_bar`` is on
(:mod:`unpact_exp.console`). The target build uses the same keys with its own wording
(``name``): its bar and lines say what is being built, not "Epoch 3/39" of the user's run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar

from unpact_exp.config import checks
from unpact_exp.config.binder import bind, plain
from unpact_exp.console import Style, progress_style

log = logging.getLogger("unpact_exp.progress")


@dataclass(frozen=True)
class TrainingProgress:
    """``trainer``'s progress keys.

    Attributes:
        enable_progress_bar: show training progress at all (false: neither bar nor lines).
        progress: ``auto`` | ``bar`` | ``lines`` (module docstring).
        progress_every_n_steps: with lines, one line per this many optimizer steps.
    """

    enable_progress_bar: bool
    progress: Literal["auto", "bar", "lines"]
    progress_every_n_steps: int

    def __post_init__(self) -> None:
        checks.at_least("trainer.progress_every_n_steps", self.progress_every_n_steps, 1)

    @property
    def style(self) -> Style:
        """``bars``, ``lines`` or ``off``, for this process's console."""
        return progress_style(self.progress) if self.enable_progress_bar else "off"


PROGRESS_KEYS = tuple(TrainingProgress.__dataclass_fields__)


def training_progress(trainer_cfg: Any) -> TrainingProgress:
    """The progress keys of the ``trainer`` node, bound (a bad value names its key)."""
    node = plain(trainer_cfg)
    return bind(TrainingProgress, {k: node[k] for k in PROGRESS_KEYS if k in node}, "trainer")


class StepProgressBar(RichProgressBar):
    """A ``RichProgressBar`` that names the step limit instead of a negative epoch count.

    Args:
        describe: when given, the bar's whole description (the target build's wording).
    """

    def __init__(self, describe: Callable[[pl.Trainer], str] | None = None) -> None:
        super().__init__()
        self.describe = describe

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        if self.describe is not None:
            return self.describe(trainer)
        if trainer.max_epochs is not None and trainer.max_epochs < 0 and trainer.max_steps > 0:
            return f"Epoch {current_epoch} (stops at step {trainer.max_steps})"
        return super()._get_train_description(current_epoch)


def loss_text(trainer: pl.Trainer) -> str:
    """The bar's metrics as ``forget_loss -0.806, reg_loss 0.120`` (``train/`` dropped)."""
    shown = []
    for key, value in trainer.progress_bar_metrics.items():
        if isinstance(value, int | float):
            shown.append(f"{key.removeprefix('train/')} {value:.4g}")
    return ", ".join(shown)


class StepLines(pl.Callback):
    """One log line every ``every_n_steps`` optimizer steps and at the last (rank 0 only).

    ``train step 10/20: forget_loss -0.806, reg_loss 0.12 (0.35 s/step, about 4 s left)``.

    Args:
        every_n_steps: ``trainer.progress_every_n_steps``.
    """

    def __init__(self, every_n_steps: int) -> None:
        self.every_n_steps = every_n_steps
        self.start = 0.0
        self.first_step = 0
        self.logged_step = -1

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.start = time.perf_counter()
        self.first_step = self.logged_step = trainer.global_step
        if trainer.is_global_zero:
            limit = f"{trainer.max_steps} steps" if trainer.max_steps > 0 else "no step limit"
            at = f" (resumed at step {trainer.global_step})" if trainer.global_step else ""
            log.info("training: %s%s; a line every %d steps", limit, at, self.every_n_steps)

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any):
        step = trainer.global_step
        last = 0 < trainer.max_steps <= step
        if step == self.logged_step or not trainer.is_global_zero:
            return
        if step % self.every_n_steps and not last:
            return
        self.logged_step = step
        log.info("train step %s: %s", self._position(trainer), self._rest(trainer))

    def _position(self, trainer: pl.Trainer) -> str:
        step = trainer.global_step
        if trainer.max_steps > 0:
            return f"{step}/{trainer.max_steps}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            return f"{step} (epoch {trainer.current_epoch + 1}/{trainer.max_epochs})"
        return str(step)

    def _rest(self, trainer: pl.Trainer) -> str:
        done = trainer.global_step - self.first_step
        per_step = (time.perf_counter() - self.start) / max(done, 1)
        timing = f"{per_step:.2f} s/step"
        if trainer.max_steps > 0:
            timing += f", about {per_step * (trainer.max_steps - trainer.global_step):.0f} s left"
        losses = loss_text(trainer)
        return f"{losses} ({timing})" if losses else f"({timing})"


def progress_callbacks(
    progress: TrainingProgress, describe: Callable[[pl.Trainer], str] | None = None
) -> list[pl.Callback]:
    """The bar, the step lines, or nothing, as ``progress`` says for this console.

    Args:
        progress: the run's ``trainer`` progress keys.
        describe: the bar's description (default: Lightning's epoch, with the step limit).
    """
    style = progress.style
    if style == "bars":
        return [StepProgressBar(describe)]
    if style == "lines":
        return [StepLines(progress.progress_every_n_steps)]
    return []
