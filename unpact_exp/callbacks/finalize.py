"""Save the unlearned model and the final ``results.json`` when fit ends.

This runs inside the training processes (``on_fit_end``, after the objective's
post-fit step such as task-vector negation), so it works the same for one device,
DDP, ``ddp_spawn`` and FSDP: every rank joins the gather, rank 0 writes.

A run that diverged ends with ``status: diverged`` and the divergence (step,
reason) in ``results.json``. Its ``unlearned/`` folder holds the last finite
weights: the update that would have made them non-finite is never applied (see
:class:`~unpact_exp.training.module.UnlearnModule`). If the weights are non-finite
anyway (the post-step guard fired), no ``unlearned/`` is written and any earlier one
is removed; ``checkpoints/last.ckpt`` still holds the last finite checkpoint. The
divergence is also printed on the console (a warning naming the step and the reason), so a
run that diverged at step 1 does not end as quietly as one that completed.

Under ``peft=lora`` ``unlearned/`` is the adapter folder (``adapter_config.json``,
the adapter weights and the tokenizer; every loader of the framework reads it as
base + adapter), and with ``peft.save_merged=true`` ``unlearned/merged/`` is a plain
HF folder with the adapter folded into the weights.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl

from unpact_exp.results import RunRecord
from unpact_exp.training.distributed import (
    barrier,
    full_copy_on_rank0,
    gather_floats,
    is_sharded,
    weights_checksum,
)

UNLEARNED_DIR = "unlearned"
log = logging.getLogger(__name__)


class SaveUnlearned(pl.Callback):
    """Write ``<run dir>/unlearned/`` (HF folder) and complete ``results.json``.

    Args:
        run_dir: the run's output folder.
        tokenizer: saved beside the model so the folder loads with ``AutoTokenizer``.
        record: the run's results record (written on rank 0 only).
        start_time: wall-clock start of the run, for ``runtime_s``.
        trust_remote_code: passed on when the merged LoRA folder reloads its base.
    """

    def __init__(
        self,
        run_dir: str | Path,
        tokenizer: Any,
        record: RunRecord,
        start_time: float,
        trust_remote_code: bool,
    ):
        self.run_dir = Path(run_dir)
        self.trust_remote_code = trust_remote_code
        self.tokenizer = tokenizer
        self.record = record
        self.start_time = start_time
        self.last_losses: dict[str, float] = {}
        self._trainer: Any = None

    def setup(self, trainer: pl.Trainer, module: Any, stage: str) -> None:
        """Keep the trainer: a checkpoint saved before this step's hook ran reads it."""
        self._trainer = trainer

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """Remember the latest logged losses for ``final_losses`` (not those of a refused step)."""
        if module.divergence is not None:
            return
        self._remember(trainer)

    def _remember(self, trainer: pl.Trainer) -> None:
        losses = {
            key.split("/", 1)[1].removesuffix("_loss"): float(value)
            for key, value in trainer.callback_metrics.items()
            if key.startswith("train/") and key.endswith("_loss")
        }
        if losses:
            self.last_losses = losses

    def state_dict(self) -> dict[str, Any]:
        """The latest losses travel in checkpoints (a run resumed at its end has no new batch).

        Read again from the trainer: a checkpoint written when SIGTERM stopped the step's
        evaluation (which runs before :meth:`on_train_batch_end`) carries that step's losses.
        """
        module = getattr(self._trainer, "lightning_module", None)
        if module is not None and getattr(module, "divergence", None) is None:
            self._remember(self._trainer)
        return {"last_losses": dict(self.last_losses)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the latest losses of the checkpointed run."""
        self.last_losses = dict(state.get("last_losses", {}))

    def on_fit_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Gather the model on rank 0, save it atomically, write the final results."""
        from unpact_exp.models.saving import save_hf_folder

        module.finish()  # the post-fit step, if Lightning skipped on_train_end (resumed at end)
        divergence = module.divergence
        finite = divergence is None or divergence["weights_finite"]
        # Every rank's view of the final weights: they must agree (DDP replicas, FSDP shards).
        checksums = gather_floats(trainer, weights_checksum(module.policy))
        model = full_copy_on_rank0(module.policy, trainer.global_rank) if finite else None
        if trainer.global_rank == 0:
            out = self.run_dir / UNLEARNED_DIR
            merged = None
            if finite and module.adapters is not None:
                merged = self._save_adapter(module, out)
            elif finite:
                use_cache = model.config.use_cache
                model.config.use_cache = True  # training turns the KV cache off; users want it
                save_hf_folder(model, self.tokenizer, out)
                model.config.use_cache = use_cache
            else:
                shutil.rmtree(out, ignore_errors=True)  # never leave non-finite weights behind
            steps = trainer.global_step if divergence is None else divergence["last_finite_step"]
            fields: dict[str, Any] = dict(
                status="completed" if divergence is None else "diverged",
                steps=steps,
                epochs=trainer.current_epoch,
                runtime_s=time.time() - self.start_time,
                final_losses=self.last_losses,
                unlearned_dir=str(out) if finite else None,
                unlearned_merged_dir=merged,
                world_size=trainer.world_size,
                sharded=is_sharded(module.policy),
                rank_weight_checksums=checksums,
            )
            if divergence is not None:
                kept = f"unlearned/ = weights of step {steps}" if finite else "no unlearned/"
                fields.update(
                    diverged_at_step=divergence["step"],
                    divergence=divergence["reason"],
                    last_checkpoint_step=_checkpoint_step(trainer),
                    error=f"diverged: {divergence['reason']}; {kept}",
                )
            self.record.update(**fields)
            if divergence is not None:
                log.warning(
                    "training diverged at step %d (%s); %s; results: %s",
                    divergence["step"],
                    divergence["reason"],
                    kept,
                    self.record.run_dir / "results.json",
                )
        barrier(trainer)

    def _save_adapter(self, module: Any, out: Path) -> str | None:
        """``unlearned/`` = the LoRA adapter; ``unlearned/merged/`` when asked (its path)."""
        from unpact_exp.models.lora import dtype_name, save_adapter_folder, save_merged_folder

        save_adapter_folder(module.adapters, self.tokenizer, out)
        if not module.lora.save_merged:
            return None
        dtype = dtype_name(module.policy)
        trust = self.trust_remote_code
        load = functools.partial(_load_base, dtype=dtype, trust_remote_code=trust)
        return str(save_merged_folder(out, self.tokenizer, load))


def _checkpoint_step(trainer: pl.Trainer) -> int | None:
    """Step of the latest ``last.ckpt`` this run wrote or resumed from (None: no checkpoint)."""
    from unpact_exp.callbacks.checkpoints import RunCheckpoint

    for callback in trainer.callbacks:
        if isinstance(callback, RunCheckpoint):
            return callback.saved_step
    return None


def _load_base(source: str, dtype: str, trust_remote_code: bool) -> Any:
    """The base model of a LoRA adapter (module-level: the callback stays picklable)."""
    from unpact_exp.models.loading import load_model

    return load_model(source, dtype, trust_remote_code)
