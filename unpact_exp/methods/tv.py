"""Task-vector negation (TV) unlearning.

Reference: Ilharco et al., "Editing Models with Task Arithmetic", https://arxiv.org/abs/2212.04089
(section 3, "forgetting via negation"); used as the ``task vector`` baseline of MUSE
(https://arxiv.org/abs/2407.06460) with ``scale = 5``.

Equation, per parameter tensor, with ``theta_0`` the original weights and ``theta_ft`` a copy
fine-tuned on the forget set for ``method.finetune_epochs``::

    tau         = theta_ft - theta_0
    theta_unl   = theta_0 - scale * tau = theta_0 - scale * (theta_ft - theta_0)

``scale`` is ``method.scale`` (5.0 in docs/science.md §6).

Under ``peft=lora`` the fine-tune trains the adapters only, and the negation scales
every adapter's ``B`` by ``-scale`` (:func:`unpact_exp.models.lora.negate_lora_update`):
with ``B_0 = 0`` that is exactly ``theta_0 - scale * tau`` for the LoRA update ``tau``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from unpact_exp.config import checks
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.token_logprobs import mean_nll
from unpact_exp.models.lora import has_lora, negate_lora_update


def negate_task_vector(
    theta0: dict[str, Tensor], theta_ft: dict[str, Tensor], scale: float
) -> dict[str, Tensor]:
    """Move the weights ``scale`` task vectors away from the forget fine-tune.

    Only floating-point tensors are edited; any other entry (integer buffers such as
    ``position_ids``, step counters) is copied from ``theta0`` unchanged. The arithmetic is done in
    float32 and cast back to ``theta0``'s dtype and device (in bf16, ``theta_ft - theta_0`` would
    lose most of the small fine-tuning update). The inputs are not modified.

    Args:
        theta0: original state dict.
        theta_ft: state dict after fine-tuning on the forget set; same keys and shapes.
        scale: ``method.scale``, the negation scale; a finite number.

    Returns:
        New state dict with the keys of ``theta0``.

    Raises:
        ValueError: if the key sets differ (the message names the missing and extra keys) or a
            floating tensor's shape differs.
        ValueError: if ``scale`` is not finite (the binder refuses it in a config).
    """
    if not math.isfinite(scale):
        raise ValueError(f"the task-vector scale must be finite; got {scale!r}")
    missing = sorted(set(theta0) - set(theta_ft))
    extra = sorted(set(theta_ft) - set(theta0))
    if missing or extra:
        raise ValueError(
            "theta_ft must have the same keys as theta0; "
            f"missing from theta_ft: {missing}; extra in theta_ft: {extra}"
        )
    out: dict[str, Tensor] = {}
    for name, base in theta0.items():
        if not torch.is_floating_point(base):
            out[name] = base.clone()
            continue
        tuned = theta_ft[name]
        if tuned.shape != base.shape:
            raise ValueError(
                f"shape mismatch for {name!r}: theta0 {tuple(base.shape)}, "
                f"theta_ft {tuple(tuned.shape)}"
            )
        base32 = base.detach().float()
        tau = tuned.detach().to(device=base.device, dtype=torch.float32) - base32
        out[name] = (base32 - scale * tau).to(base.dtype)
    return out


@register("tv")
class TaskVector(Objective):
    """Task-vector negation: fine-tune on forget, then negate (see :func:`negate_task_vector`).

    Stage 1 (the fit, ``finetune_epochs`` epochs; ``trainer.max_steps`` is ignored):
    minimise NLL(forget), i.e. learn the forget data *more*. Stage 2
    (``on_train_end``): ``theta = theta0 - scale * (theta_ft - theta0)``. The
    snapshot ``theta0`` is taken at fit start, after any sharding, so under FSDP
    each rank negates its own shards. Intermediate checkpoints hold the fine-tuned
    model, not an unlearned one, so they are not analysed.

    Args:
        scale: negation scale (``method.scale``).
        finetune_epochs: epochs of the fine-tuning stage (``method.finetune_epochs``).
    """

    accepts_regularizer = False
    evaluates_during_fit = False
    keeps_original_weights = True

    def __init__(self, scale: float, finetune_epochs: int) -> None:
        super().__init__()
        checks.at_least("method.finetune_epochs", finetune_epochs, 1)
        self.scale = scale
        self.finetune_epochs = finetune_epochs
        self._theta0: dict[str, Tensor] | None = None

    def fit_length(self, max_steps: int, max_epochs: int) -> tuple[int, int]:
        """The fine-tuning stage runs whole epochs: ``(-1, finetune_epochs)``."""
        return -1, self.finetune_epochs

    @torch.no_grad()
    def on_fit_start(self, ctx: MethodContext) -> None:
        """Snapshot the original weights (kept off the module so checkpoints stay small).

        Under LoRA there is nothing to snapshot: the original update is ``B_0 = 0``.
        """
        if self._theta0 is None and not has_lora(ctx.policy):
            self._theta0 = {n: p.detach().clone() for n, p in ctx.policy.named_parameters()}

    def on_load_checkpoint(self, ctx: MethodContext) -> None:
        """On resume, snapshot ``theta_0`` before the fine-tuned weights are restored.

        Lightning calls this before loading the checkpoint's state dict (and, under
        FSDP, after ``on_fit_start`` already took the snapshot), so the policy still
        holds the original weights either way.
        """
        self.on_fit_start(ctx)

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Plain NLL on the forget batch (the fine-tuning stage)."""
        nll = mean_nll(ctx.forward_batch(ctx.policy, forget).logits, forget["labels"])
        return nll, {"forget_nll": nll.detach()}

    @torch.no_grad()
    def on_train_end(self, ctx: MethodContext) -> None:
        """Write ``theta0 - scale * (theta_ft - theta0)`` into the policy."""
        if has_lora(ctx.policy):
            negate_lora_update(ctx.policy, self.scale)
            return
        if self._theta0 is None:
            raise RuntimeError("task vector: fit ended before the original weights were saved")
        params = dict(ctx.policy.named_parameters())
        current = {n: p.detach() for n, p in params.items()}
        for name, value in negate_task_vector(self._theta0, current, self.scale).items():
            params[name].copy_(value)
