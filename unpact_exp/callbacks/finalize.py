"""Save the unlearned model and the final ``results.json`` when fit ends.

This runs inside the training processes (``on_fit_end``, after the objective's
post-fit step such as task-vector negation), so it works the same for one device,
DDP, ``ddp_spawn`` and FSDP: every rank joins the gather, rank 0 writes.
"""

from __future__ import annotations

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


class SaveUnlearned(pl.Callback):
    """Write ``<run dir>/unlearned/`` (HF folder) and complete ``results.json``.

    Args:
        run_dir: the run's output folder.
        tokenizer: saved beside the model so the folder loads with ``AutoTokenizer``.
        record: the run's results record (written on rank 0 only).
        start_time: wall-clock start of the run, for ``runtime_s``.
    """

    def __init__(self, run_dir: str | Path, tokenizer: Any, record: RunRecord, start_time: float):
        self.run_dir = Path(run_dir)
        self.tokenizer = tokenizer
        self.record = record
        self.start_time = start_time
        self.last_losses: dict[str, float] = {}

    def on_train_batch_end(self, trainer: pl.Trainer, module: Any, *args: Any) -> None:
        """Remember the latest logged losses for ``final_losses``."""
        metrics = trainer.callback_metrics
        self.last_losses = {
            key.split("/", 1)[1].removesuffix("_loss"): float(value)
            for key, value in metrics.items()
            if key.startswith("train/") and key.endswith("_loss")
        }

    def on_fit_end(self, trainer: pl.Trainer, module: Any) -> None:
        """Gather the model on rank 0, save it atomically, write the final results."""
        from unpact_exp.target import save_hf_folder

        # Every rank's view of the final weights: they must agree (DDP replicas, FSDP shards).
        checksums = gather_floats(trainer, weights_checksum(module.policy))
        model = full_copy_on_rank0(module.policy, trainer.global_rank)
        if trainer.global_rank == 0:
            use_cache = model.config.use_cache
            model.config.use_cache = True  # training turns the KV cache off; users want it on
            out = save_hf_folder(model, self.tokenizer, self.run_dir / UNLEARNED_DIR)
            model.config.use_cache = use_cache
            self.record.update(
                status="completed",
                steps=trainer.global_step,
                epochs=trainer.current_epoch,
                runtime_s=time.time() - self.start_time,
                final_losses=self.last_losses,
                unlearned_dir=str(out),
                world_size=trainer.world_size,
                sharded=is_sharded(module.policy),
                rank_weight_checksums=checksums,
            )
        barrier(trainer)
