"""Build the Lightning ``Trainer`` (and its strategy) from the ``trainer`` config group.

Strategies:

- ``auto`` / ``ddp`` / ``ddp_spawn``: Lightning's own. Inside a Hydra multirun, ``ddp``
  with more than one device becomes ``ddp_spawn``: Lightning's ``ddp`` re-executes
  ``sys.argv`` for the other ranks, which would re-run the whole sweep there. Under
  SLURM (ranks started by ``srun``) Lightning does not relaunch, so ``ddp`` is kept.
- ``fsdp``: Lightning's ``FSDPStrategy`` with each decoder layer (``model.decoder_layer_cls``)
  and each causal LM as a shard unit, float32 buffers, optional activation checkpointing;
  on CPU processes (``trainer.accelerator=cpu``, gloo) through a subclass that lifts
  Lightning's GPU-only check (see :mod:`unpact_exp.training.fsdp`).
- ``fsdp2``: Lightning's ``ModelParallelStrategy`` (data parallel only) with
  ``fully_shard`` applied per decoder layer in ``UnlearnModule.configure_model``;
  runs on CPU/gloo too.

Under SLURM the cluster environment is ``SLURMEnvironment(auto_requeue=False)``:
requeueing belongs to submitit (hydra-submitit-launcher), whose requeued job resumes
from ``last.ckpt``; Lightning's own requeue (``scontrol requeue`` on SIGUSR1) would
requeue the job a second time. SIGTERM still stops training at the next step
boundary with a checkpoint (see :mod:`unpact_exp.callbacks.checkpoints`).
"""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl

from unpact_exp.class_names import config_class
from unpact_exp.errors import UnpactConfigError
from unpact_exp.hydra_runtime import in_multirun

STRATEGIES = ("auto", "ddp", "ddp_spawn", "fsdp", "fsdp2")


def under_slurm() -> bool:
    """Whether SLURM started this process as one task of a job (srun/submitit)."""
    return "SLURM_NTASKS" in os.environ and "SLURM_PROCID" in os.environ


def build_strategy(trainer_cfg: Any, decoder_layer_cls: str | None) -> Any:
    """The strategy object (or name) for ``trainer.strategy``.

    Raises:
        UnpactConfigError: unknown strategy, or a sharded strategy without a layer class.
    """
    name = trainer_cfg.strategy
    if name not in STRATEGIES:
        raise UnpactConfigError(f"trainer.strategy={name!r} is not one of {list(STRATEGIES)}.")
    if name == "ddp" and trainer_cfg.devices != 1 and in_multirun() and not under_slurm():
        return "ddp_spawn"
    if name == "fsdp":
        from unpact_exp.training.fsdp import build_fsdp

        return build_fsdp(trainer_cfg, config_class("model.decoder_layer_cls", decoder_layer_cls))
    if name == "fsdp2":
        from lightning.pytorch.strategies import ModelParallelStrategy

        devices = int(trainer_cfg.devices) * int(trainer_cfg.num_nodes)
        return ModelParallelStrategy(data_parallel_size=devices, tensor_parallel_size=1)
    return name


def cluster_plugins() -> list[Any]:
    """``[SLURMEnvironment(auto_requeue=False)]`` when Lightning would detect SLURM, else []."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def build_trainer(
    trainer_cfg: Any,
    decoder_layer_cls: str | None,
    loggers: list[Any],
    callbacks: list[pl.Callback],
    run_dir: str,
    max_steps: int,
    max_epochs: int,
) -> pl.Trainer:
    """A Trainer for unlearning from the ``trainer`` config node.

    Progress is a bar on an interactive terminal and log lines in a batch job
    (``trainer.progress``; :mod:`unpact_exp.training.progress`).

    ``max_steps``/``max_epochs`` are passed separately because task vectors train
    for ``method.finetune_epochs`` epochs instead of ``trainer.max_steps`` steps.
    """
    from unpact_exp.training.progress import progress_callbacks, training_progress

    strategy = build_strategy(trainer_cfg, decoder_layer_cls)
    progress = training_progress(trainer_cfg)
    return pl.Trainer(
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        num_nodes=trainer_cfg.num_nodes,
        strategy=strategy,
        precision=trainer_cfg.precision,
        max_steps=max_steps,
        max_epochs=max_epochs,
        log_every_n_steps=trainer_cfg.log_every_n_steps,
        gradient_clip_val=trainer_cfg.gradient_clip_val,  # every strategy: see grad_norm.py
        accumulate_grad_batches=trainer_cfg.accumulate_grad_batches,
        enable_progress_bar=progress.style == "bars",  # Lightning refuses a bar when off
        enable_model_summary=False,
        logger=loggers,
        callbacks=[*callbacks, *progress_callbacks(progress)],
        default_root_dir=run_dir,
        use_distributed_sampler=False,  # the datamodule shards (see training/datamodule.py)
        num_sanity_val_steps=0,
        plugins=cluster_plugins(),
    )
