"""Building the policy and the reference under sharding (FSDP, FSDP2) with one read from disk.

Every rank used to load the policy and, for NPO, KL and RMU, the reference fully into host
memory before sharding them: two full models per rank, about 448 GB of host memory for
Qwen3-14B npo+kl on 8 ranks. Under FSDP and FSDP2 a rank only keeps its shard, so:

- the policy is read from disk by rank 0 only; every other rank builds the same
  architecture on the ``meta`` device (no memory, :func:`empty_model`) and receives its
  shard from rank 0 (:func:`fill_from_rank0`). Rank 0 holds one full copy on the host
  while sharding;
- the reference is read by no rank: it is the policy before its first update, so every
  rank builds it on ``meta``, shards it like the policy, and copies its own policy shards
  into it (:func:`copy_shards`). Its shards never leave the rank;
- buffers (the rotary ``inv_freq``, not part of a state dict) are broadcast from rank 0 or
  copied from the policy, and rank 0's generation config is broadcast.

One device and DDP are unchanged: every rank needs the whole model there anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


def empty_model(source: str, dtype: str, trust_remote_code: bool) -> nn.Module:
    """The causal LM of ``source``'s ``config.json`` on the ``meta`` device (no weights read)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from unpact_exp.models.loading import torch_dtype

    config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(
            config, dtype=torch_dtype(dtype), trust_remote_code=trust_remote_code
        )


def load_on_rank0(
    load: Callable[[], nn.Module], build_empty: Callable[[], nn.Module], rank: int
) -> nn.Module:
    """The loaded model on rank 0, the empty (``meta``) one elsewhere."""
    return load() if rank == 0 else build_empty()


def broadcast_generation_config(model: nn.Module) -> None:
    """Give every rank rank 0's generation config (its pad id, stop ids, sampling defaults)."""
    import torch.distributed as dist

    holder = [getattr(model, "generation_config", None)]
    dist.broadcast_object_list(holder, src=0)
    model.generation_config = holder[0]


def fill_from_rank0(model: nn.Module, full_state: dict[str, torch.Tensor]) -> None:
    """Give a sharded, materialized ``model`` rank 0's weights and buffers (every rank calls).

    Args:
        model: already sharded (FSDP root or ``fully_shard``-ed) and materialized on its
            device (with uninitialized values on the ranks that built it empty).
        full_state: on rank 0, the loaded model's parameters and buffers (every buffer,
            persistent or not), taken before sharding; ``{}`` elsewhere.

    The parameters go through ``set_model_state_dict`` with ``broadcast_from_rank0`` (each
    rank keeps its shard of each broadcast tensor); the buffers are broadcast whole. FSDP's
    own ``sync_module_states`` would do the same for FSDP (v1), but it refuses CPU ranks.
    """
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    names = {_clean(n) for n, _ in model.named_parameters()}
    params = {n: t for n, t in full_state.items() if n in names}
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=False)
    set_model_state_dict(model, params, options=options)
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            name = _clean(name)
            if name in full_state:
                buffer.copy_(full_state[name])
            dist.broadcast(buffer, src=0)


def _clean(name: str) -> str:
    """A name without FSDP's wrapper prefix."""
    return name.replace("_fsdp_wrapped_module.", "")


def full_state_with_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and every buffer (non-persistent ones included) by name."""
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    return {k: v.detach() for k, v in state.items()}


def copy_shards(target: nn.Module, source: nn.Module) -> None:
    """Copy ``source``'s local shards and buffers into ``target``, sharded the same way.

    Both are the same architecture wrapped by the same code, so their parameters (FSDP:
    views of the flat shard, FSDP2: DTensors) pair up name by name with equal local shapes.

    Raises:
        RuntimeError: the two do not pair up (a different architecture or wrapping).
    """
    with torch.no_grad():
        for kind in ("named_parameters", "named_buffers"):
            pairs = zip(getattr(target, kind)(), getattr(source, kind)(), strict=True)
            for (t_name, t), (s_name, s) in pairs:
                t_local, s_local = _local(t), _local(s)
                if t_name != s_name or t_local.shape != s_local.shape:
                    raise RuntimeError(
                        f"cannot copy {s_name} {tuple(s_local.shape)} into "
                        f"{t_name} {tuple(t_local.shape)}: not sharded alike"
                    )
                t_local.copy_(s_local)


def _local(tensor: Any) -> torch.Tensor:
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor
