"""The global gradient norm and clipping by it, the same on one device, DDP, FSDP and FSDP2.

Each rank holds either whole gradients (one device; DDP, after its all-reduce) or a shard of
them: FSDP (v1, ``use_orig_params``) leaves each parameter's ``.grad`` a view of this rank's
slice of the flat gradient, FSDP2 a ``DTensor`` whose local part is this rank's slice. The
norm that clipping needs is that of the whole gradient over every rank:

- whole gradients: ``get_total_norm`` of them;
- FSDP2: ``get_total_norm`` of the ``DTensor`` gradients is a ``DTensor``; its full value
  (a collective) is the global norm;
- FSDP: the root's ``clip_grad_norm_``, which knows how its sharding strategy lays the
  gradients out, called with ``max_norm=inf`` (it multiplies every gradient by exactly 1).

Clipping then scales every rank's local gradients by the same factor,
``min(1, max_norm / (norm + 1e-6))``, torch's ``clip_grad_norm_`` formula, so the result
equals clipping the whole gradient at once. Lightning cannot do this for the sharded
strategies: its FSDP precision plugin refuses norm clipping, and FSDP2 used to be run with
clipping switched off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn


def local_tensor(tensor: Tensor) -> Tensor:
    """The local shard of a DTensor (FSDP2), or the tensor itself."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def is_fsdp_root(model: nn.Module) -> bool:
    """Whether ``model`` is wrapped by FSDP (v1)."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def global_grad_norm(policy: nn.Module, params: Iterable[nn.Parameter]) -> Tensor | None:
    """The L2 norm of every gradient of ``params`` on every rank together.

    Args:
        policy: the trained model (an FSDP root under FSDP v1).
        params: the parameters whose gradients count (the module's).

    Returns:
        A scalar tensor, or None when no parameter has a gradient. A collective under
        FSDP and FSDP2: every rank must call it.
    """
    if is_fsdp_root(policy):
        return policy.clip_grad_norm_(math.inf)
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    norm = torch.nn.utils.get_total_norm(grads)
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return norm


def clip_by_total_norm(params: Iterable[nn.Parameter], max_norm: float, norm: Tensor) -> None:
    """Scale the local gradients of ``params`` so the global norm ``norm`` is at most ``max_norm``.

    ``clip_coef = max_norm / (norm + 1e-6)`` clamped to 1, as ``clip_grad_norm_``, applied
    to the local part of every gradient (the whole gradient where it is not sharded).
    """
    grads = [local_tensor(p.grad) for p in params if p.grad is not None]
    if not grads:
        return
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for grad in grads:
        grad.mul_(coef.to(grad.device))
