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


def full_state_dict(model: nn.Module, every_rank: bool = False) -> dict[str, torch.Tensor]:
    """The full state dict of a possibly sharded model (a collective when sharded).

    Args:
        model: the policy (plain, DDP replica, FSDP root or FSDP2 module).
        every_rank: every rank receives the tensors, on the model's device. Otherwise,
            when the model sits on an accelerator, only rank 0 receives them, on the CPU
            (other ranks get an empty dict).

    On CPU processes nothing is offloaded (``cpu_offload=False``): the tensors are already
    on the CPU, and torch 2.13's FSDP segfaults when asked to offload them there.
    """
    if not is_sharded(model):
        return {k: v.detach().cpu() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    from unpact_exp.unpact.inference import model_device

    offload = not every_rank and model_device(model).type != "cpu"
    options = StateDictOptions(full_state_dict=True, cpu_offload=offload)
    return get_model_state_dict(model, options=options)


def model_from_state(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """A plain HF model of ``model``'s config whose weights *are* the tensors of ``state``.

    The model is built on the ``meta`` device (no memory) and the gathered tensors are
    assigned to it (``load_state_dict(assign=True)``), not copied: one full copy exists,
    not two (the gathered state and a model to copy it into). Buffers that a state dict
    does not hold (the rotary ``inv_freq``) are taken from ``model``; tied weights are
    tied again; the generation config is ``model``'s.
    """
    import copy as copying

    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(model.config, dtype=model.config.dtype)
    plain.load_state_dict(state, assign=True, strict=False)
    device = next(iter(state.values())).device  # rank 0's CPU when gathered for saving
    source_buffers = {_clean_name(n): b for n, b in model.named_buffers()}
    for name, buffer in list(plain.named_buffers()):
        if buffer.is_meta:
            owner, _, leaf = name.rpartition(".")
            target = plain.get_submodule(owner) if owner else plain
            persistent = leaf not in target._non_persistent_buffers_set
            kept = source_buffers[name].detach().clone().to(device)
            target.register_buffer(leaf, kept, persistent=persistent)
    plain.tie_weights()
    missing = [n for n, p in plain.named_parameters() if p.is_meta]
    if missing:
        raise RuntimeError(f"the gathered state lacks {missing[:3]} (of {len(missing)})")
    plain.generation_config = copying.deepcopy(model.generation_config)
    return plain.eval()


def _clean_name(name: str) -> str:
    """A parameter or buffer name without the wrappers' prefixes (FSDP, checkpointing)."""
    for prefix in ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module."):
        name = name.replace(prefix, "")
    return name


def full_copy_on_rank0(model: nn.Module, global_rank: int) -> nn.Module | None:
    """An unsharded copy of ``model`` on rank 0 (None elsewhere); every rank must call this.

    For an unsharded model this is the model itself on rank 0 (no copy is made). A
    sharded one is gathered to rank 0 (to its CPU when the shards sit on an accelerator)
    and becomes the copy's weights (:func:`model_from_state`): one full copy on rank 0.
    """
    if not is_sharded(model):
        return model if global_rank == 0 else None
    state = full_state_dict(model)
    if global_rank != 0:
        return None
    return model_from_state(model, state)


def full_copy_on_every_rank(model: nn.Module) -> nn.Module:
    """An unsharded model on every rank, on the device the shards live on; every rank calls.

    Evaluation is split across ranks by items, so each rank needs the whole M1 (for
    generation, and for the relearning attack, which fine-tunes it). Unsharded models
    (single device, DDP replicas) are returned as they are. Sharded ones (FSDP1, FSDP2)
    are gathered into a full state dict on every rank's device, whose tensors become the
    copy's weights (:func:`model_from_state`). Peak memory per rank while copying: one full
    model in the training dtype (the gathered tensors are the copy), freed when the
    evaluation drops it.
    """
    if not is_sharded(model):
        return model
    return model_from_state(model, full_state_dict(model, every_rank=True))


def barrier(trainer: Any) -> None:
    """Wait for all ranks (no-op in a single process)."""
    if trainer.world_size > 1:
        trainer.strategy.barrier()


def weights_checksum(model: nn.Module) -> float:
    """A float64 sum over every full parameter, identical on ranks holding the same model.

    Sharded parameters are gathered (a collective every rank enters: ``full_tensor`` per
    parameter under FSDP2; under FSDP, the whole model at once, to the CPU when it sits on
    an accelerator), so on FSDP each rank checks the whole model it is part of, not just
    its shard.
    """
    from unpact_exp.training.grad_norm import is_fsdp_root

    if is_fsdp_root(model):
        from torch.distributed.fsdp import FullyShardedDataParallel

        from unpact_exp.unpact.inference import model_device

        offload = model_device(model).type != "cpu"
        with FullyShardedDataParallel.summon_full_params(
            model, writeback=False, offload_to_cpu=offload
        ):
            return _checksum(model)
    return _checksum(model)


def _checksum(model: nn.Module) -> float:
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
