"""FSDP (v1) as the framework uses it: what is a shard unit, which dtypes, and CPU processes.

Wrap units (:func:`wrap_policy`, :func:`shard_fsdp`): every decoder layer
(``model.decoder_layer_cls``) and every causal LM itself (the policy and the frozen
reference), each causal LM an FSDP root of its own. Lightning used to wrap the whole
LightningModule as the one root; with decoder layers alone as units, the embeddings, the
final norm and the LM head stayed flat shards of that root, gathered only inside the root's
forward (the training step). Anything else that runs the policy (NPO's reference cache and
the token weights at fit start, the gathering of full copies for evaluation and saving) then
saw 1-D shards ("'weight' must be 2-D", size mismatches). A nested unit would not do either:
FSDP makes whichever unit runs its forward first a root, and NPO's cache runs the policy
before any training step. As roots, the causal LMs gather their embeddings and head
whenever their forward runs, whoever calls it. Tied embeddings stay in one unit (the causal
LM's), as FSDP requires of shared parameters.

Mixed precision (:func:`mixed_precision`): parameters and gradient reductions in the
training dtype, as Lightning configures them, but buffers kept in float32. Lightning casts
every buffer to bfloat16 under ``bf16-mixed``, which rounded NPO's cached reference
log-probs (``-1234.57`` became ``-1232.0``) and the token weights; under DDP and FSDP2
``bf16-mixed`` is autocast and never touches buffers, so float32 buffers are also what every
other strategy does.

CPU (:class:`CPUFSDPStrategy`): Lightning refuses ``strategy="fsdp"`` without a GPU, but
torch's FSDP runs on CPU processes with gloo. The check matches ``FSDPStrategy`` exactly,
so a subclass passes it; ``trainer=fsdp trainer.accelerator=cpu`` uses it, so the sharded
path is tested on machines without a GPU (tests/distributed).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator
from typing import Any

import torch
from lightning.pytorch.strategies import FSDPStrategy
from torch import nn

PRECISION_DTYPES = {
    "32-true": torch.float32,
    "32": torch.float32,
    "bf16-mixed": torch.bfloat16,
    "bf16-true": torch.bfloat16,
    "16-mixed": torch.float16,
    "16-true": torch.float16,
}


def is_causal_lm(module: nn.Module) -> bool:
    """Whether ``module`` is a whole HF causal LM (it owns the output embeddings, the head).

    The inner base model (``model.model``) is a ``PreTrainedModel`` too, but has no head.
    """
    from transformers import PreTrainedModel

    return isinstance(module, PreTrainedModel) and module.get_output_embeddings() is not None


def _wrap(module: nn.Module, recurse: bool, nonwrapped_numel: int, layer_cls: type) -> bool:
    """FSDP's auto-wrap callable: recurse everywhere; a unit per decoder layer and causal LM."""
    if recurse:
        return True
    return isinstance(module, layer_cls) or is_causal_lm(module)


def wrap_policy(layer_cls: type) -> Any:
    """The auto-wrap policy: each ``layer_cls`` module and each causal LM is an FSDP unit."""
    return functools.partial(_wrap, layer_cls=layer_cls)


def mixed_precision(precision: str) -> Any:
    """FSDP's ``MixedPrecision`` for a Lightning precision flag, with float32 buffers.

    Raises:
        ValueError: an unknown precision flag.
    """
    from torch.distributed.fsdp import MixedPrecision

    if str(precision) not in PRECISION_DTYPES:
        raise ValueError(f"precision {precision!r} is not one of {sorted(PRECISION_DTYPES)}")
    dtype = PRECISION_DTYPES[str(precision)]
    return MixedPrecision(param_dtype=dtype, reduce_dtype=dtype, buffer_dtype=torch.float32)


class CPUFSDPStrategy(FSDPStrategy):
    """Lightning's ``FSDPStrategy`` allowed on CPU processes (gloo).

    Only the wrapping context differs: torch's FSDP wants ``device_id=torch.device("cpu")``
    when no accelerator exists, where Lightning passes the device index (None for the CPU).
    """

    strategy_name = "fsdp_cpu"

    def lightning_module_state_dict(self) -> dict[str, Any]:
        """The full state dict for checkpoints, gathered without ``offload_to_cpu``.

        Lightning gathers with ``offload_to_cpu=True``; torch 2.13's FSDP then segfaults
        on CPU processes while cloning the gathered tensors (measured with 2 gloo ranks;
        the same call without offloading works). On the CPU there is nothing to offload.
        """
        with _full_state_dict_context(self.model):
            return self.model.state_dict()

    def optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        """The full optimizer state for checkpoints, gathered without ``offload_to_cpu``."""
        from lightning.pytorch.core.optimizer import LightningOptimizer
        from torch.distributed.fsdp import FullyShardedDataParallel, OptimStateKeyType

        if isinstance(optimizer, LightningOptimizer):
            optimizer = optimizer._optimizer
        with _full_state_dict_context(self.model):
            state = FullyShardedDataParallel.optim_state_dict(self.model, optimizer)
            if self.global_rank == 0:  # the standard layout, as Lightning stores it
                state = FullyShardedDataParallel.rekey_optim_state_dict(
                    state, OptimStateKeyType.PARAM_ID, self.model
                )
            return state

    @contextlib.contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        """``wrap()`` inside ``configure_model`` builds CPU FSDP units with these settings."""
        from torch.distributed.fsdp import FullyShardedDataParallel
        from torch.distributed.fsdp.wrap import enable_wrap

        with enable_wrap(
            wrapper_cls=FullyShardedDataParallel,
            cpu_offload=self.cpu_offload,
            mixed_precision=self.mixed_precision_config,
            sharding_strategy=self.sharding_strategy,
            device_id=torch.device("cpu"),
            **self.kwargs,
        ):
            yield


def _full_state_dict_context(module: nn.Module) -> Any:
    """FSDP's full-state-dict mode on rank 0, without offloading (CPU processes)."""
    from torch.distributed.fsdp import FullyShardedDataParallel, StateDictType
    from torch.distributed.fsdp.api import FullOptimStateDictConfig, FullStateDictConfig

    return FullyShardedDataParallel.state_dict_type(
        module=module,
        state_dict_type=StateDictType.FULL_STATE_DICT,
        state_dict_config=FullStateDictConfig(offload_to_cpu=False, rank0_only=True),
        optim_state_dict_config=FullOptimStateDictConfig(offload_to_cpu=False, rank0_only=True),
    )


def shard_fsdp(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` (a causal LM) as an FSDP root with its decoder layers as nested units.

    Called in ``configure_model``, inside the strategy's wrapping context (its mixed
    precision, sharding strategy, device and :func:`wrap_policy`). Each causal LM is its own
    root, so its forward gathers what it needs whoever calls it, and Lightning, seeing the
    module already wrapped, does not wrap the LightningModule again.

    Args:
        model: the causal LM, loaded or on the ``meta`` device.
        device: where ``meta`` modules are materialized, uninitialized (FSDP's default
            calls ``reset_parameters``, which HF's norms lack, on values that are about
            to be overwritten anyway: :mod:`unpact_exp.training.sharded_init`).
    """
    from torch.distributed.fsdp.wrap import wrap

    return wrap(model, param_init_fn=functools.partial(_materialize, device=device))


def _materialize(module: nn.Module, device: torch.device) -> None:
    """FSDP's ``param_init_fn``: allocate ``module``'s own ``meta`` tensors on ``device``."""
    module.to_empty(device=device, recurse=False)


def build_fsdp(trainer_cfg: Any, layer_cls: type) -> FSDPStrategy:
    """The FSDP (v1) strategy of ``trainer.fsdp`` (see the module docstring for the choices)."""
    fsdp = trainer_cfg.fsdp
    cls = CPUFSDPStrategy if trainer_cfg.accelerator == "cpu" else FSDPStrategy
    return cls(
        auto_wrap_policy=wrap_policy(layer_cls),
        activation_checkpointing_policy={layer_cls} if fsdp.activation_checkpointing else None,
        sharding_strategy=fsdp.sharding_strategy,
        cpu_offload=bool(fsdp.cpu_offload),
        mixed_precision=mixed_precision(trainer_cfg.precision),
        state_dict_type="full",
    )
