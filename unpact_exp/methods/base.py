"""What every unlearning method is: a forget objective the LightningModule composes.

A method is one file in :mod:`unpact_exp.methods` holding its pure loss function(s)
and one :class:`Objective` subclass registered under its short name
(:func:`unpact_exp.methods.registry.register`), plus ``conf/method/<name>.yaml``.
The rest of the framework never compares method names: it asks the class.

Capabilities (class attributes, read by validation, the training module and the
analysis callback):

- ``needs_reference``: a frozen copy of the original model must be loaded;
- ``uses_retain``: the objective itself reads retain batches (RMU);
- ``accepts_regularizer``: ``gd``/``kl`` may be added (false for methods that carry
  their own retain handling);
- ``evaluates_during_fit``: intermediate checkpoints are meaningful models. Task
  vectors only become an unlearned model after the post-fit negation, so their
  training-time checkpoints are not analysed;
- ``keeps_original_weights``: the objective snapshots the policy's original weights
  (task vectors' ``theta_0``), one more copy of the model in memory.

Hooks, called with a :class:`MethodContext` (the LightningModule):
``check_model`` (the loaded policy, before anything is built around it), ``on_fit_start``,
``loss``, ``on_train_end`` (post-fit step), ``on_load_checkpoint``,
``trainable`` (which parameters train), ``adapter_layers`` (where LoRA adapters go
under ``peft=lora``) and ``fit_length`` (steps/epochs of the fit).

Constructor arguments are bound from the method's YAML node by name (see the
registry). Arguments named in :data:`RUNTIME_ARGS` are not configuration: the
training stage supplies them.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor, nn

Batch = dict[str, Tensor]

RUNTIME_ARGS = (
    "n_forget",
    "hidden_size",
    "seed",
    "forget_prompts",
    "unpact",
    "oracle",
    "forget_alternates",
)
"""Constructor arguments the training stage supplies (never read from YAML):
``n_forget`` the number of forget examples, ``hidden_size`` the model width,
``seed`` the run seed, ``forget_prompts`` a function giving the units of the forget
examples for token weights (see :mod:`unpact_exp.methods.token_weights`), ``unpact``
the run's typed ``unpact`` settings (how those weights find M0's KeyTokens), ``oracle`` a
function returning the retrain oracle's folder, built if absent (``None`` when the
model is not framework-built; see :mod:`unpact_exp.methods.retrain`), ``forget_alternates``
a function re-encoding forget QA examples with other answers as a padded batch
(:class:`~unpact_exp.training.sequences.AnswerSwap`; None for raw-text data)."""

TRAINING_KEYS = ("name", "lr", "weight_decay", "batch_size", "forget_nll_stop")
"""Keys every ``conf/method/*.yaml`` has, read by the training stage, not the objective."""


class MethodContext(Protocol):
    """What an objective may use from the module that trains it."""

    policy: nn.Module
    reference: nn.Module | None
    device: torch.device

    def forward_batch(self, model: nn.Module, batch: Batch) -> Any:
        """Forward a padded batch through ``model``; returns the HF output (``.logits``)."""
        ...

    def forget_batches_to_train(self) -> Iterable[Batch]:
        """The forget batches the fit can train on, each example with its ``index``.

        The first epoch in training order, cut where ``max_steps`` ends the fit: what a
        cache of the original model's values (computed before the first update) needs.
        Under several ranks: every rank's batches (rank 0's first), the same on every rank,
        so each rank fills the same cache with the same forward passes.
        """
        ...

    def reference_context(self) -> AbstractContextManager[Any]:
        """The precision context (autocast) of the training forward, for those caches."""
        ...


class Objective(nn.Module):
    """Base of every forget objective: default hooks and capability flags.

    Subclasses set the flags they change and implement :meth:`loss`. They never
    subclass each other: shared code lives in plain functions.
    """

    name: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = False
    uses_retain: ClassVar[bool] = False
    accepts_regularizer: ClassVar[bool] = True
    evaluates_during_fit: ClassVar[bool] = True
    keeps_original_weights: ClassVar[bool] = False
    """Whether the objective holds a copy of the original weights (memory: unpact_exp.memory)."""
    forget_weight: float = 1.0
    """Weight of the forget term in ``forget_weight * forget + regularizer``. Methods that
    accept a regularizer take it from ``method.forget_weight``; for the others (their own
    retain handling) the forget term is the whole loss and the weight stays 1."""

    def check_model(self, model: nn.Module) -> None:
        """Refuse a model this objective cannot train, right after it is loaded.

        Called before the optimizer (and any sharding) is built, so a config error is
        reported by name instead of surfacing as an error of what was built from it
        (default: nothing to check).
        """

    def on_fit_start(self, ctx: MethodContext) -> None:
        """One-off preparation before the first step (default: nothing)."""

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """The per-step forget objective and the values to log."""
        raise NotImplementedError(f"{type(self).__name__} does not define loss()")

    def on_train_end(self, ctx: MethodContext) -> None:
        """Post-fit step (default: nothing)."""

    def on_load_checkpoint(self, ctx: MethodContext) -> None:
        """Called before a checkpoint's weights are restored (default: nothing)."""

    def trainable(self, name: str) -> bool:
        """Whether the policy parameter ``name`` is trained (default: all)."""
        return True

    def adapter_layers(self) -> list[int] | None:
        """Decoder layers that get LoRA adapters under ``peft=lora`` (default: all, None)."""
        return None

    def fit_length(self, max_steps: int, max_epochs: int) -> tuple[int, int]:
        """The trainer's ``(max_steps, max_epochs)`` for this method (default: as configured)."""
        return max_steps, max_epochs
