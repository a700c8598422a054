"""The one LightningModule of unlearning: a forget objective plus an optional regularizer.

Methods are composed, not inherited: ``loss = objective(forget) + regularizer(retain)``.
Weights are loaded late, in ``configure_model``, so a 7B model is never built at
config time and FSDP can shard it as it is placed. The frozen reference model
(for ``kl`` and RMU's frozen activations) is loaded from the same source, frozen,
kept in eval mode, and left out of checkpoints (it is reloadable and never changes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from unpact_exp.training.regularizers import Regularizer

REFERENCE_PREFIX = "reference."


class UnlearnModule(pl.LightningModule):
    """Unlearning as ``objective(forget) + regularizer(retain)``.

    Args:
        load_model: returns a fresh HF causal LM with the original weights; called
            for the policy and, if needed, for the reference.
        objective: a forget objective from :mod:`unpact_exp.training.objectives`.
        regularizer: the retain term.
        lr: AdamW learning rate (constant schedule).
        weight_decay: AdamW weight decay.
        forget_nll_stop: stop once the forget NLL of a batch exceeds this (None: never).
        forget_batches_in_order: yields the forget set in fixed order (NPO's cache).
        fsdp2: shard policy and reference with ``fully_shard`` per decoder layer
            (set under Lightning's ModelParallelStrategy).
        decoder_layer_cls: class of the decoder layer (the FSDP2 shard unit).
    """

    def __init__(
        self,
        load_model: Callable[[], nn.Module],
        objective: nn.Module,
        regularizer: Regularizer,
        lr: float,
        weight_decay: float,
        forget_nll_stop: float | None,
        forget_batches_in_order: Callable[[], Iterable[dict[str, Tensor]]],
        fsdp2: bool,
        decoder_layer_cls: type | None,
    ) -> None:
        super().__init__()
        self._load_model = load_model
        self.objective = objective
        self.regularizer = regularizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.forget_nll_stop = forget_nll_stop
        self.forget_batches_in_order = forget_batches_in_order
        self.fsdp2 = fsdp2
        self.decoder_layer_cls = decoder_layer_cls
        self.policy: nn.Module | None = None
        self.reference: nn.Module | None = None
        self.strict_loading = False  # checkpoints omit the reference model

    @property
    def needs_reference(self) -> bool:
        """Whether a frozen reference copy must be loaded."""
        return bool(self.objective.needs_reference or self.regularizer.needs_reference)

    def configure_model(self) -> None:
        """Load the policy (and reference), freeze what the objective does not train, shard."""
        if self.policy is not None:
            return
        self.policy = self._load_model()
        self.policy.config.use_cache = False
        for name, param in self.policy.named_parameters():
            param.requires_grad_(self.objective.trainable(name))
        if self.needs_reference:
            self.reference = self._load_model()
            self.reference.eval()
            self.reference.requires_grad_(False)
        if self.fsdp2:
            self._shard_fsdp2()

    def _shard_fsdp2(self) -> None:
        from torch.distributed.fsdp import fully_shard

        mesh = self.device_mesh["data_parallel"]
        for model in (self.policy, self.reference):
            if model is None:
                continue
            for module in model.modules():
                if self.decoder_layer_cls and isinstance(module, self.decoder_layer_cls):
                    fully_shard(module, mesh=mesh)
            fully_shard(model, mesh=mesh)

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

    def on_fit_start(self) -> None:
        """Let the objective prepare (NPO cache, TV snapshot, RMU layer check)."""
        self.objective.on_fit_start(self)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """One step: forget objective + weighted retain term, each logged under its own key."""
        forget, retain = batch["forget"], batch.get("retain")
        forget_loss, logs = self.objective.loss(self, forget, retain)
        reg_loss = self.regularizer.loss(self, retain)
        total = forget_loss if reg_loss is None else forget_loss + reg_loss
        bs = forget["input_ids"].shape[0]
        self.log("train/forget_loss", forget_loss.detach(), prog_bar=True, batch_size=bs)
        if reg_loss is not None:
            self.log("train/reg_loss", reg_loss.detach(), prog_bar=True, batch_size=bs)
        self.log("train/total_loss", total.detach(), batch_size=bs)
        for key, value in logs.items():
            self.log(f"train/{key}", value, batch_size=bs)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=bs)
        self._maybe_stop(logs.get("forget_nll"))
        return total

    def _maybe_stop(self, forget_nll: Tensor | None) -> None:
        if self.forget_nll_stop is None or forget_nll is None:
            return
        passed = bool(forget_nll.item() > self.forget_nll_stop)
        if self.trainer.strategy.reduce_boolean_decision(passed, all=False):
            self.trainer.should_stop = True

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the global gradient norm (before clipping)."""
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if grads:
            norm = torch.nn.utils.get_total_norm(grads)
            if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
                norm = norm.full_tensor()
            self.log("train/grad_norm", norm)

    def on_train_end(self) -> None:
        """Post-fit step of the objective (task-vector negation)."""
        self.objective.on_train_end(self)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over the trainable parameters, constant learning rate (MUSE's setting)."""
        params = [p for p in self.policy.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Drop the frozen reference from checkpoints: it is reloaded from its source."""
        state = checkpoint.get("state_dict", {})
        for key in [k for k in state if k.startswith(REFERENCE_PREFIX)]:
            del state[key]
