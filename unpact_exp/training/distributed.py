"""Getting full, unsharded copies of the policy: on rank 0 (saving) or on every rank
(evaluation, which splits the items across ranks).

Saving needs the whole model in one process, evaluation in each. Under single-device
and DDP training every rank already holds it; under FSDP/FSDP2 the shards are
gathered with ``torch.distributed.checkpoint.state_dict`` (a collective every rank
must enter) and loaded into a fresh model built from the same config.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def is_sharded(model: nn.Module) -> bool:
    """Whether any parameter is a DTensor (FSDP2) or the model is wrapped by FSDP1."""
    if any(type(p).__name__ == "DTensor" for p in model.parameters()):
        return True
    return any(type(m).__name__ == "FullyShardedDataParallel" for m in model.modules())


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full CPU state dict of a possibly sharded model (collective when sharded)."""
    if not is_sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options)


def full_copy_on_rank0(model: nn.Module, global_rank: int) -> nn.Module | None:
    """An unsharded copy of ``model`` on rank 0 (None elsewhere); every rank must call this.

    For an unsharded model this is the model itself on rank 0 (no copy is made).
    """
    if not is_sharded(model):
        return model if global_rank == 0 else None
    state = full_state_dict(model)
    if global_rank != 0:
        return None
    from transformers import AutoModelForCausalLM

    copy = AutoModelForCausalLM.from_config(model.config, dtype=model.config.dtype)
    copy.load_state_dict(state)
    return copy.eval()


def full_copy_on_every_rank(model: nn.Module) -> nn.Module:
    """An unsharded model on every rank, on the device the shards live on; every rank calls.

    Evaluation is split across ranks by items, so each rank needs the whole M1 (for
    generation, and for the relearning attack, which fine-tunes it). Unsharded models
    (single device, DDP replicas) are returned as they are. Sharded ones (FSDP1, FSDP2)
    are gathered into a full state dict on every rank's device (``cpu_offload=False``:
    with it, only rank 0 would receive the tensors) and loaded into a fresh model built
    from the same config there. Peak memory per rank while copying: the gathered state
    dict plus the copy (two full models in the training dtype); afterwards one full copy,
    freed when the evaluation drops it.
    """
    if not is_sharded(model):
        return model
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import AutoModelForCausalLM

    from unpact_exp.unpact.inference import model_device

    device = model_device(model)
    state = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=False)
    )
    with torch.device(device):
        copy = AutoModelForCausalLM.from_config(model.config, dtype=model.config.dtype)
    copy.load_state_dict(state)
    del state
    return copy.eval()


def barrier(trainer: Any) -> None:
    """Wait for all ranks (no-op in a single process)."""
    if trainer.world_size > 1:
        trainer.strategy.barrier()


def weights_checksum(model: nn.Module) -> float:
    """A float64 sum over every full parameter, identical on ranks holding the same model.

    Sharded parameters are gathered (``full_tensor``, a collective every rank enters),
    so on FSDP each rank checks the whole model it is part of, not just its shard.
    """
    total = 0.0
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            full = param.full_tensor() if hasattr(param, "full_tensor") else param
            total += float(full.detach().double().abs().sum()) + float(full.double().sum())
    return total


def gather_floats(trainer: Any, value: float) -> list[float]:
    """``value`` from every rank, in rank order (``[value]`` in a single process)."""
    if trainer.world_size == 1:
        return [value]
    device = trainer.strategy.root_device
    gathered = trainer.strategy.all_gather(
        torch.tensor([value], dtype=torch.float64, device=device)
    )
    return [float(v) for v in gathered.flatten()]
