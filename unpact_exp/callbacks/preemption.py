"""Pre-emption under submitit (``hydra/launcher=slurm``): checkpoint at a step boundary, requeue.

submitit owns pre-emption in its jobs. It ignores SIGTERM (SLURM sends it to every
task first) and treats its own signal (``SIGUSR2``, or ``$SUBMITIT_PREEMPT_SIGNAL``)
as "pre-empted or timed out": it calls the launcher's ``checkpoint`` (which
hydra-submitit-launcher implements by resubmitting the same job with the same
arguments, hence the same job folder), requeues the job and exits. The requeued
job finds ``<job dir>/checkpoints/last.ckpt`` and resumes from it.

Two things would fight that, and this callback removes both during training:

- Lightning's SIGTERM handler would stop the run on the SIGTERM that precedes
  submitit's signal, ending the job before submitit can requeue it; submitit's
  SIGTERM bypass is put back. (Lightning's own SLURM requeue is off too:
  :func:`unpact_exp.training.trainer.build_trainer` passes
  ``SLURMEnvironment(auto_requeue=False)``.)
- submitit's exit can land in the middle of an optimizer step, losing the steps
  since the last periodic checkpoint. The signal is deferred instead: it only sets
  a flag; after the current step, all ranks agree, ``last.ckpt`` is written, and
  submitit's own handler runs (requeue, exit). Outside the training loop the signal
  goes straight to submitit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import lightning.pytorch as pl

log = logging.getLogger(__name__)


def under_submitit() -> bool:
    """Whether this process is a submitit job (``SUBMITIT_EXECUTOR`` is set by submitit)."""
    return bool(os.environ.get("SUBMITIT_EXECUTOR"))


class SubmititPreemption(pl.Callback):
    """Defer submitit's pre-emption signal to the next step boundary and checkpoint first.

    Args:
        signum: submitit's pre-emption signal.
        checkpoint: the run's :class:`~unpact_exp.callbacks.checkpoints.RunCheckpoint`.
    """

    def __init__(self, signum: int, checkpoint: Any) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.requested = False
        self._sigterm: Any = None
        self._submitit: Any = None

    @classmethod
    def if_under_submitit(cls, checkpoint: Any) -> SubmititPreemption | None:
        """The callback when running as a submitit job, else None."""
        if not under_submitit():
            return None
        from submitit import JobEnvironment

        return cls(JobEnvironment._usr_sig(), checkpoint)

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        """Remember submitit's SIGTERM handler before Lightning wraps it."""
        self._sigterm = signal.getsignal(signal.SIGTERM)

    def on_train_start(self, trainer: pl.Trainer, module: Any) -> None:
        """Lightning has installed its handlers by now: restore submitit's, defer its signal."""
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)
        self._submitit = signal.getsignal(self.signum)
        signal.signal(self.signum, self._defer)

    def _defer(self, signum: int, frame: Any) -> None:
        log.warning("pre-emption signal %s: checkpointing after this step", signum)
        self.requested = True

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """If any rank was signalled: save ``last.ckpt`` now, then let submitit requeue."""
        if trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            self._checkpoint_and_requeue(trainer, module)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Training is over (its state is saved): the signal goes straight to submitit again."""
        self._restore()
        if self.requested:
            self._requeue()

    def on_exception(self, trainer: pl.Trainer, module: Any, exception: BaseException) -> None:
        """Give the signal back to submitit."""
        self._restore()

    def _checkpoint_and_requeue(self, trainer: pl.Trainer, module: Any) -> None:
        if getattr(module, "divergence", None) is None:
            if self.checkpoint.saved_step != trainer.global_step:
                self.checkpoint.save(trainer)
        self._restore()
        self._requeue()

    def _restore(self) -> None:
        if self._submitit is not None and signal.getsignal(self.signum) == self._defer:
            signal.signal(self.signum, self._submitit)

    def _requeue(self) -> None:
        self.requested = False
        handler = self._submitit
        if callable(handler):
            handler(self.signum, None)  # submitit: checkpoint() -> requeue -> sys.exit(-1)
