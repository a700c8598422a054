"""The checkpoint a run resumes from, ``<run dir>/checkpoints/last.ckpt``; none after divergence.

One file is kept, rewritten atomically by Lightning (fsspec transaction: temp file,
then rename), so a kill never leaves a truncated ``last.ckpt``. It is written:

- every ``trainer.checkpoint_every_n_steps`` optimizer steps (0: after the last batch
  of each epoch);
- as soon as SIGTERM has arrived, after the current step (Lightning notes the signal
  and stops at the next step boundary), so a pre-empted run loses no step;
- when SIGTERM stops an evaluation that runs after a step (:mod:`unpact_exp.stop` raises
  ``Interrupted`` inside ``on_train_batch_end``): the step had completed, so, as Lightning's
  pre-emption convention asks, it is saved (one process; under several ranks the latest
  save is kept, as a collective save cannot be joined from one rank's exception), and the
  resumed run redoes that step's evaluation;
- at the end of training, before any post-fit step (task-vector negation), so a run
  killed while evaluating or saving resumes without training again.

All saves happen after a batch (``on_train_batch_end``): Lightning 2.6 resumes that
state exactly, mid-epoch included (with
:class:`~unpact_exp.training.datamodule.ResumableDataLoader`). It does not resume an
epoch-end state (``on_train_epoch_end``, or after ``SIGTERMException`` is raised
once the epoch is marked complete) exactly: it starts the next epoch with the
epoch counter one ahead, so the seeded order of a different epoch is used. Such
states are never saved (measured: tests/reliability/test_resume.py).

A ``last.ckpt`` that cannot be read (copied or synced only in part) is refused
before training starts by :func:`check_checkpoint`, naming the file and the fix.

After a divergence nothing more is written: ``last.ckpt`` stays the last finite one.
The RNG states travel in the checkpoint too (:class:`RngState`), so anything that
draws random numbers during training (dropout) resumes exactly.
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from unpact_exp import stop
from unpact_exp.errors import ModelLoadError

LAST = "last.ckpt"


def check_checkpoint(path: str | Path, wanted: object = None) -> None:
    """Refuse a checkpoint that cannot be resumed from, before training starts.

    Three checks, cheapest first: the zip archive ``torch.save`` writes must be readable
    (opening it reads only its central directory, at the end of the file, so it is cheap for
    any size and fails for every truncation); it must hold a pickled object (``*/data.pkl``:
    any other zip is not a checkpoint); and that object must load the way Lightning loads
    it, with torch's ``weights_only`` unpickler (plain containers and tensors; a pickle that
    names any other global, e.g. ``os.system``, is refused by torch and never executed).
    The last check memory-maps the tensors (``mmap=True``), so it reads the pickle, not the
    weights. A sharded checkpoint (a folder) is left to its strategy.

    Args:
        path: the checkpoint to resume from.
        wanted: the user's ``ckpt_path`` (None: the automatic ``last.ckpt`` resume).

    Raises:
        ModelLoadError: naming the file, what is wrong and what to do.
    """
    if Path(path).is_dir():
        return
    fix = (
        "delete it to start this run from the beginning, or pass ckpt_path=FILE to resume "
        "from another checkpoint"
        if wanted is None or str(wanted) == "last"
        else "pass ckpt_path= another checkpoint, or drop ckpt_path to start fresh"
    )
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ModelLoadError(
            f"checkpoint {str(path)!r} is truncated or corrupt ({err}); {fix}."
        ) from err
    if not any(name.endswith("data.pkl") for name in names):
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ModelLoadError(
            f"checkpoint {str(path)!r} is a zip archive but not a PyTorch checkpoint (no "
            f"data.pkl; it holds: {listed or 'nothing'}); {fix}."
        )
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # UnpicklingError (a forbidden global), RuntimeError, EOFError...
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        globals_ = [line for line in lines if "GLOBAL" in line or "global" in line]
        first = (globals_ or lines or [type(err).__name__])[0].split(". Please")[0]
        raise ModelLoadError(
            f"checkpoint {str(path)!r} cannot be loaded safely ({type(err).__name__}: "
            f"{first}); it was not written by this framework's training, or was altered. "
            f"Nothing in it was executed; {fix}."
        ) from None


def _diverged(module: Any) -> bool:
    return getattr(module, "divergence", None) is not None


class RunCheckpoint(Checkpoint):
    """Writes ``last.ckpt`` periodically, on SIGTERM and at the end of training.

    A :class:`~lightning.pytorch.callbacks.Checkpoint`, so Lightning adds no default
    ``ModelCheckpoint`` of its own (which would write epoch-end checkpoints elsewhere).

    Args:
        dirpath: the run's ``checkpoints`` folder.
        every_n_steps: save every this many optimizer steps (0: after each epoch's last batch).
    """

    def __init__(self, dirpath: str | Path, every_n_steps: int) -> None:
        self.last_path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps
        self.saved_step: int | None = None

    def save(self, trainer: pl.Trainer) -> None:
        """Write ``last.ckpt`` now (every rank must call this)."""
        trainer.save_checkpoint(self.last_path, weights_only=False)

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        """Let an interruption report the steps done and the step a rerun resumes from."""
        stop.follow(lambda: {"steps": trainer.global_step, "last_checkpoint_step": self.saved_step})

    def on_save_checkpoint(self, trainer: pl.Trainer, module: Any, checkpoint: dict) -> None:
        """Remember the step of the latest checkpoint (for ``last_checkpoint_step``)."""
        self.saved_step = trainer.global_step

    def on_load_checkpoint(self, trainer: pl.Trainer, module: Any, checkpoint: dict) -> None:
        """A resumed run starts with the checkpoint it resumed from as its latest."""
        self.saved_step = int(checkpoint["global_step"])

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """Save when due or when SIGTERM has arrived; never after a divergence."""
        if _diverged(module) or self.saved_step == trainer.global_step:
            return
        step = trainer.global_step
        if self.every_n_steps > 0:
            due = step % self.every_n_steps == 0
        else:
            due = bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)
        # One decision for all ranks: the signal may have reached only some of them.
        if trainer.strategy.reduce_boolean_decision(due or trainer.received_sigterm, all=False):
            self.save(trainer)

    def on_train_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Save the final training state (callbacks run before the module's post-fit step)."""
        if not _diverged(module) and self.saved_step != trainer.global_step:
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, module: Any, exception: BaseException) -> None:
        """SIGTERM that arrived after this step's save: save now, if the state resumes exactly.

        Lightning raises ``SIGTERMException`` either after a batch (mid-epoch: this
        state resumes exactly) or once the epoch is complete (it would not: the
        latest batch-end checkpoint is kept). ``Interrupted`` (SIGTERM during an
        evaluation) is only raised from the evaluation callbacks, after a completed step
        (``on_train_batch_end``, the state this callback saves anyway) or before any
        (``on_train_start``, no new step). Other exceptions can strike mid-step (a
        half-applied optimizer update) and never trigger a save.
        """
        if _diverged(module) or self.saved_step == trainer.global_step:
            return
        if isinstance(exception, SIGTERMException):
            if not trainer.fit_loop.epoch_loop.done:
                self.save(trainer)
        elif isinstance(exception, stop.Interrupted):
            if trainer.global_step > 0 and trainer.world_size == 1:
                self.save(trainer)


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
