"""The one LightningModule of unlearning: a forget objective plus an optional regularizer.

Methods are composed, not inherited: ``loss = objective(forget) + regularizer(retain)``.
Weights are loaded late, in ``configure_model``, so a 7B model is never built at
config time and FSDP can shard it as it is placed. The frozen reference model
(for ``kl`` and RMU's frozen activations) is loaded from the same source, frozen,
kept in eval mode, and left out of checkpoints (it is reloadable and never changes).

Divergence (gradient ascent runs off to inf/NaN by design): before every optimizer
step the loss and the global gradient norm are checked; if either is non-finite on
any rank, the gradients are dropped (AdamW skips parameters without a gradient, so
the weights stay those of the last finite step), ``divergence`` is recorded and the
trainer stops. The weights are also checked after every step, as a last guard.
Checkpoint and save callbacks read ``divergence`` and never write what follows it.

LoRA (``peft=lora``, :mod:`unpact_exp.models.lora`): the policy gets adapters and
only they train; no reference copy is loaded, ``reference`` is a
:class:`~unpact_exp.models.lora.ReferenceView` (the policy with its adapters
disabled), so objectives and regularizers use it exactly as they use a loaded copy.
``adapters`` holds the ``PeftModel`` wrapper (for saving), not registered as a
submodule, so no parameter is listed twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy, SingleDeviceStrategy
from torch import Tensor, nn

from unpact_exp.methods.base import Objective
from unpact_exp.methods.regularizers import Regularizer
from unpact_exp.models.lora import LoraSettings, ReferenceView, apply_lora
from unpact_exp.training.grad_norm import clip_by_total_norm, global_grad_norm, local_tensor

REFERENCE_PREFIX = "reference."
log = logging.getLogger(__name__)


class UnlearnModule(pl.LightningModule):
    """Unlearning as ``objective(forget) + regularizer(retain)``.

    Args:
        load_model: returns a fresh HF causal LM with the original weights; called
            for the policy and, if needed, for the reference.
        objective: a registered forget objective (:mod:`unpact_exp.methods`).
        regularizer: the retain term.
        lr: AdamW learning rate (constant schedule).
        weight_decay: AdamW weight decay.
        forget_nll_stop: stop once the forget NLL of a batch exceeds this (None: never).
        forget_batches_in_order: ``(n_batches, world_size)`` to the forget batches of the
            first epoch of every rank, as far as the fit reaches (NPO's cache, token
            weights; see :meth:`UnlearnDataModule.forget_batches_in_order`).
        fsdp2: shard policy and reference with ``fully_shard`` per decoder layer
            (set under Lightning's ModelParallelStrategy).
        decoder_layer_cls: class of the decoder layer (the FSDP2 shard unit).
        lora: the ``peft=lora`` settings, or None for full fine-tuning.
        gradient_checkpointing: recompute layer activations in the backward pass
            (``trainer.gradient_checkpointing``).
        build_empty: returns the model's architecture on the ``meta`` device; under FSDP
            and FSDP2 the ranks other than 0 build the policy with it, and every rank the
            reference (None: every rank loads both, as on one device).
    """

    def __init__(
        self,
        load_model: Callable[[], nn.Module],
        objective: Objective,
        regularizer: Regularizer,
        lr: float,
        weight_decay: float,
        forget_nll_stop: float | None,
        forget_batches_in_order: Callable[[int | None, int], Iterable[dict[str, Tensor]]],
        fsdp2: bool,
        decoder_layer_cls: type | None,
        lora: LoraSettings | None,
        gradient_checkpointing: bool,
        build_empty: Callable[[], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        self._load_model = load_model
        self._build_empty = build_empty
        self.objective = objective
        self.regularizer = regularizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.forget_nll_stop = forget_nll_stop
        self.forget_batches_in_order = forget_batches_in_order
        self.fsdp2 = fsdp2
        self.decoder_layer_cls = decoder_layer_cls
        self.lora = lora
        self.gradient_checkpointing = gradient_checkpointing
        self.policy: nn.Module | None = None
        self.reference: nn.Module | ReferenceView | None = None
        self.adapters: Any = None  # the PeftModel wrapper under peft=lora (kept unregistered)
        self.strict_loading = False  # checkpoints omit the reference model
        self.divergence: dict[str, Any] | None = None
        self._last_loss: Tensor | None = None
        self._grad_norm: Tensor | None = None  # computed once per step, reused to clip
        self._post_fit_done = False

    @property
    def needs_reference(self) -> bool:
        """Whether a frozen reference copy must be loaded."""
        return bool(self.objective.needs_reference or self.regularizer.needs_reference)

    def configure_model(self) -> None:
        """Load the policy (and reference), freeze what the objective does not train, shard.

        Under LoRA the adapters go on the layers the objective names
        (:meth:`~unpact_exp.methods.base.Objective.adapter_layers`) and the reference
        is the adapter-disabled policy: no second model is loaded. Under FSDP and FSDP2
        (with ``build_empty``) only rank 0 reads the weights, and the reference is made of
        the policy's shards (:mod:`unpact_exp.training.sharded_init`).
        """
        if self.policy is not None:
            return
        sharding = self._sharding()
        empty_init = sharding is not None and self._build_empty is not None
        if empty_init:
            from unpact_exp.training.sharded_init import load_on_rank0

            rank = int(self._trainer.global_rank)
            self.policy = load_on_rank0(self._load_model, self._build_empty, rank)
            log.info("rank %d: policy %s", rank, "read from disk" if rank == 0 else "built empty")
        else:
            self.policy = self._load_model()
        self.objective.check_model(self.policy)
        self.policy.config.use_cache = False
        if self.lora is not None:
            adapters = apply_lora(self.policy, self.lora, self.objective.adapter_layers())
            object.__setattr__(self, "adapters", adapters)  # not a submodule: no double listing
            if self.needs_reference:
                self.reference = ReferenceView(adapters)
        else:
            for name, param in self.policy.named_parameters():
                param.requires_grad_(self.objective.trainable(name))
            if self.needs_reference:
                self.reference = self._build_empty() if empty_init else self._load_model()
                self.reference.eval()
                self.reference.requires_grad_(False)
        if self.gradient_checkpointing:
            enable_gradient_checkpointing(self.policy)
        if sharding == "fsdp2":
            self._shard_fsdp2(empty_init)
        elif sharding == "fsdp":
            self._shard_fsdp(empty_init)

    def _sharding(self) -> str | None:
        """``fsdp2``, ``fsdp`` or None (one device, DDP, no trainer)."""
        if self.fsdp2:
            return "fsdp2"
        if self._trainer is not None and isinstance(self._trainer.strategy, FSDPStrategy):
            return "fsdp"
        return None

    def _shard_fsdp(self, empty_init: bool) -> None:
        """FSDP (v1): policy and reference each an FSDP root (see :mod:`..training.fsdp`)."""
        from unpact_exp.training.fsdp import shard_fsdp

        device = self._trainer.strategy.root_device
        self._shard(lambda model: shard_fsdp(model, device), empty_init)
        # The LightningModule itself is no FSDP unit, and Lightning's FSDP strategy leaves
        # moving to FSDP: the objective's buffers (NPO's cache, RMU's u) go to the device here.
        self.objective.to(device)

    def _shard_fsdp2(self, empty_init: bool) -> None:
        """FSDP2: ``fully_shard`` per decoder layer, then the whole model (policy, reference)."""
        from torch.distributed.fsdp import fully_shard

        mesh = self.device_mesh["data_parallel"]
        device = self._trainer.strategy.root_device if empty_init else None

        def shard(model: nn.Module) -> nn.Module:
            for module in model.modules():
                if self.decoder_layer_cls and isinstance(module, self.decoder_layer_cls):
                    fully_shard(module, mesh=mesh)
            fully_shard(model, mesh=mesh)
            if device is not None:
                model.to_empty(device=device)  # rank 0's values come back in _shard
            return model

        self._shard(shard, empty_init)

    def _shard(self, shard: Callable[[nn.Module], nn.Module], empty_init: bool) -> None:
        """Shard policy and reference; with ``empty_init`` fill them from rank 0's weights.

        The policy's shards come from rank 0's loaded model, the reference's from the
        policy's own shards (:mod:`unpact_exp.training.sharded_init`).
        """
        from unpact_exp.training.sharded_init import (
            broadcast_generation_config,
            copy_shards,
            fill_from_rank0,
            full_state_with_buffers,
        )

        full_state = {}
        if empty_init and int(self._trainer.global_rank) == 0:
            full_state = full_state_with_buffers(self.policy)  # the loaded weights, kept alive
        self.policy = shard(self.policy)
        if empty_init:
            fill_from_rank0(self.policy, full_state)
            broadcast_generation_config(self.policy)
        del full_state
        if isinstance(self.reference, nn.Module):
            self.reference = shard(self.reference)
            if empty_init:
                copy_shards(self.reference, self.policy)
                self.reference.generation_config = self.policy.generation_config

    def train(self, mode: bool = True) -> UnlearnModule:
        """Switch train/eval mode; the reference always stays in eval mode."""
        super().train(mode)
        if self.reference is not None:
            self.reference.eval()
        return self

    @staticmethod
    def forward_batch(model: nn.Module, batch: dict[str, Tensor]) -> Any:
        """Forward a padded batch (right padding: positions follow from the mask)."""
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    def forget_batches_to_train(self) -> Iterable[dict[str, Tensor]]:
        """The forget batches this fit can train on, on any rank (the first epoch, cut at
        ``max_steps``).

        Every rank gets every rank's batches, so the caches filled from them are the same
        on all ranks. Without a trainer (an objective driven by hand) or without a step
        limit: the whole first epoch.
        """
        trainer = self._trainer
        if trainer is None:
            return self.forget_batches_in_order(None, 1)
        n_batches = None
        if trainer.max_steps >= 0:
            n_batches = trainer.max_steps * trainer.accumulate_grad_batches
        return self.forget_batches_in_order(n_batches, trainer.world_size)

    def reference_context(self) -> AbstractContextManager[Any]:
        """The precision context of the training forward (autocast under ``*-mixed``).

        Values of M0 cached before the first step are computed under it, so under
        ``bf16-mixed`` NPO's log-ratio at step 0 is exactly 0, as the method defines it.
        """
        if self._trainer is None:
            return contextlib.nullcontext()
        return self._trainer.precision_plugin.train_step_context()

    def on_fit_start(self) -> None:
        """Let the objective prepare (NPO cache, TV snapshot, RMU layer check)."""
        self.objective.on_fit_start(self)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """One step: forget objective + weighted retain term, each logged under its own key."""
        forget, retain = batch["forget"], batch.get("retain")
        forget_loss, logs = self.objective.loss(self, forget, retain)
        reg_loss = self.regularizer.loss(self, retain)
        weighted = self.objective.forget_weight * forget_loss  # method.forget_weight (default 1)
        total = weighted if reg_loss is None else weighted + reg_loss
        bs = forget["input_ids"].shape[0]
        self.log("train/forget_loss", forget_loss.detach(), prog_bar=True, batch_size=bs)
        if reg_loss is not None:
            self.log("train/reg_loss", reg_loss.detach(), prog_bar=True, batch_size=bs)
        self.log("train/total_loss", total.detach(), batch_size=bs)
        for key, value in logs.items():
            self.log(f"train/{key}", value, batch_size=bs)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=bs)
        self._maybe_stop(logs.get("forget_nll"))
        self._last_loss = total.detach()
        return total

    def _maybe_stop(self, forget_nll: Tensor | None) -> None:
        if self.forget_nll_stop is None or forget_nll is None:
            return
        passed = bool(forget_nll.item() > self.forget_nll_stop)
        if self.trainer.strategy.reduce_boolean_decision(passed, all=False):
            self.trainer.should_stop = True

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the global gradient norm (before clipping); refuse a non-finite step."""
        norm = global_grad_norm(self.policy, self.parameters())
        self._grad_norm = norm
        loss_bad = self._last_loss is not None and not bool(torch.isfinite(self._last_loss))
        grad_bad = norm is not None and not bool(torch.isfinite(norm))
        # One decision for all ranks (a loss can be non-finite on one shard of the batch only).
        if self.trainer.strategy.reduce_boolean_decision(loss_bad or grad_bad, all=False):
            for param in self.parameters():
                param.grad = None  # AdamW skips parameters without gradients: no update
            self._grad_norm = None
            what = "loss" if loss_bad else "gradient norm" if grad_bad else "loss on another rank"
            self._diverged(f"non-finite {what} at step {self.trainer.global_step + 1}")
            return
        if norm is not None:
            self.log("train/grad_norm", norm)

    @property
    def _unsharded(self) -> bool:
        """Whether each rank holds whole parameters and gradients (one device, or DDP)."""
        return isinstance(self.trainer.strategy, (SingleDeviceStrategy, DDPStrategy))

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by the global norm :meth:`on_before_optimizer_step` just computed.

        Lightning calls this right after that hook. Its default would compute the same
        norm a second time on one device and DDP, and cannot clip by norm at all under
        FSDP (its precision plugin refuses) nor correctly under FSDP2 (the gradients are
        shards). Here every strategy scales its local gradients by the factor of the global
        norm (:mod:`unpact_exp.training.grad_norm`), exactly ``clip_grad_norm_`` on one
        device. Value clipping takes Lightning's path; a refused step has nothing to clip.
        """
        norm = self._grad_norm
        self._grad_norm = None
        if gradient_clip_algorithm not in (None, "norm"):
            super().configure_gradient_clipping(
                optimizer, gradient_clip_val, gradient_clip_algorithm
            )
            return
        if not gradient_clip_val or norm is None:
            return
        params = [p for group in optimizer.param_groups for p in group["params"]]
        clip_by_total_norm(params, gradient_clip_val, norm)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Step, then check the weights are still finite (the guard behind the loss check)."""
        super().optimizer_step(*args, **kwargs)
        if self.divergence is None and not self.weights_finite():
            self._diverged(f"non-finite weights after step {self.trainer.global_step + 1}")
            self.divergence["weights_finite"] = False

    def _diverged(self, reason: str) -> None:
        """Record the divergence and stop; the step counted is the update that was refused."""
        step = self.trainer.global_step + 1
        self.divergence = {
            "step": step,
            "last_finite_step": step - 1,
            "reason": reason,
            "weights_finite": True,
        }
        self.trainer.should_stop = True

    def weights_finite(self) -> bool:
        """Whether every policy weight is finite on every rank (collective).

        One fp32 sum per tensor, then one check: NaN and inf propagate through a sum,
        and finite weights would need magnitudes near 1e38 to overflow it (a run that
        far gone has diverged anyway). It is ~10x cheaper than ``isfinite(p).all()``
        per tensor, which cost 10-13% of a small model's step when run every step.
        """
        with torch.no_grad():  # one device sync, not one per tensor
            sums = [local_tensor(p).sum(dtype=torch.float32) for p in self.policy.parameters()]
            finite = bool(torch.isfinite(torch.stack(sums).sum())) if sums else True
        return bool(self.trainer.strategy.reduce_boolean_decision(finite, all=True))

    def on_train_end(self) -> None:
        """Post-fit step of the objective (task-vector negation)."""
        self.finish()

    def finish(self) -> None:
        """Run the objective's post-fit step once (also when a resumed fit had no steps left).

        Lightning skips ``on_train_end`` when a run resumes from a checkpoint taken at
        the very end of training, so the save/evaluate callbacks call this too. It is
        a no-op after divergence into non-finite weights.
        """
        if self._post_fit_done:
            return
        self._post_fit_done = True
        if self.divergence is not None and not self.divergence["weights_finite"]:
            return
        self.objective.on_train_end(self)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over the trainable parameters, constant learning rate (MUSE's setting).

        The fused kernel (one pass per tensor instead of a dozen element-wise ops; the
        ``transformers.Trainer`` default since torch 2.8) where the parameters are plain
        tensors on one device or under DDP; sharded strategies keep the default kernel.
        """
        params = [p for p in self.policy.parameters() if p.requires_grad]
        fused = self._unsharded and all(p.device.type in ("cpu", "cuda") for p in params)
        return torch.optim.AdamW(
            params, lr=self.lr, weight_decay=self.weight_decay, fused=fused or None
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the frozen reference from checkpoints: it is reloaded from its source."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith(REFERENCE_PREFIX)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Before the checkpoint's weights replace the original ones, let the objective look.

        Lightning calls this hook before loading the state dict, so the policy still
        holds the original weights: task vectors snapshot ``theta_0`` here (a resumed
        fine-tune must negate against the original, not the restored, weights).
        """
        self.objective.on_load_checkpoint(self)


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """HF gradient checkpointing, non-reentrant, with inputs that require grad.

    With the reentrant variant a checkpointed segment whose inputs do not require
    grad produces outputs that do not either, so the adapters of a frozen-base LoRA
    model silently receive no gradient (the bug users report from other frameworks).
    Non-reentrant checkpointing does not have that failure; the input-embedding hook
    (``enable_input_require_grads``) is kept as a second guard, as peft recommends.
    """
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.enable_input_require_grads()
