"""Representation Misdirection for Unlearning (RMU).

Reference: Li et al., "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning",
https://arxiv.org/abs/2403.03218, section 5 / eq. (1)-(2); reference code
https://github.com/centerforaisafety/wmdp (``rmu/unlearn.py``).

With ``h(x)`` the hidden states at layer ``rmu.layer`` of the model being unlearned,
``h_frozen(x)`` those of the frozen original model, ``u`` a fixed random unit vector and
``c = rmu.steering_coeff``, ``retain_weight = rmu.retain_weight``::

    L_forget = (1 / (N_f * H)) * sum_{(b,t) valid in forget} || h(x_f)[b,t] - c * u ||^2
    L_retain = retain_weight * (1 / (N_r * H)) * sum_{(b,t) valid in retain}
                                             || h(x_r)[b,t] - h_frozen(x_r)[b,t] ||^2
    L_RMU    = L_forget + L_retain

MSE reduction, ``method.reduction`` (docs/science.md §12), always averaging the hidden dims:

- ``tokens`` (default): the mean over the attention-mask positions of the batch, i.e. exactly
  ``F.mse_loss(act[mask], target)`` with the default ``reduction="mean"``;
- ``all_positions``: the mean over every position of the padded batch, pad tokens included, as the
  WMDP reference code (``rmu/unlearn.py``: ``F.mse_loss(updated_forget_activations, control_vec)``
  and the same for retain);
- ``sequence``: the mean over the batch of per-sequence means over the *answer* positions
  (``labels != -100``, not shifted), as open-unlearning's ``RMU.compute_activation_loss``
  (locuslab/open-unlearning, ``src/trainer/unlearn/rmu.py``: ``mse_loss(reduction="none")``,
  ``.mean(dim=2).sum(dim=1) / mask.sum(-1)``, then ``.mean()``).

``u`` follows the reference code: ``torch.rand`` (uniform on [0, 1)) normalised to unit L2 norm;
it is drawn once from a seeded ``torch.Generator`` so it is the same on every rank and every resume.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register


def make_control_vector(hidden_size: int, seed: int, dtype: torch.dtype) -> Tensor:
    """Fixed random unit direction ``u`` that forget activations are steered towards.

    Drawn uniform on [0, 1) in float32 on the CPU from ``torch.Generator().manual_seed(seed)``,
    divided by its L2 norm, then cast to ``dtype``; the result does not depend on the global RNG
    state. The caller moves it to the activations' device (``rmu_loss`` also does).

    Args:
        hidden_size: model hidden dimension ``H``.
        seed: generator seed (the run seed, so reruns get the same ``u``).
        dtype: dtype of the returned vector.

    Returns:
        ``[H]`` tensor of unit L2 norm (up to ``dtype`` rounding), all entries >= 0.
    """
    if hidden_size < 1:
        raise ValueError(f"hidden_size must be >= 1; got {hidden_size}")
    generator = torch.Generator(device="cpu").manual_seed(seed)
    u = torch.rand(hidden_size, generator=generator, dtype=torch.float32)
    return (u / u.norm()).to(dtype)


REDUCTIONS = ("tokens", "sequence", "all_positions")


def check_reduction(reduction: str) -> None:
    """Refuse an unknown ``method.reduction``, naming the choices."""
    if reduction not in REDUCTIONS:
        raise UnpactConfigError(
            f"method.reduction={reduction!r} is not valid; choose one of {list(REDUCTIONS)} "
            "(tokens: attention-mask positions; sequence: per-sequence answer means, as "
            "open-unlearning; all_positions: padding included, as the WMDP code)."
        )


def rmu_mask(batch: Batch, reduction: str) -> Tensor | None:
    """The positions ``reduction`` averages over: attention mask, answer labels, or all (None)."""
    check_reduction(reduction)
    if reduction == "tokens":
        return batch["attention_mask"]
    if reduction == "sequence":
        return batch["labels"] != -100
    return None


def _sequence_mse(act: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean over sequences of the per-sequence mean (over masked positions and hidden dims)."""
    diff = (act.float() - target.float()).pow(2).mean(dim=-1)  # [B, T]
    valid = mask.to(device=act.device, dtype=torch.float32)
    per_sequence = (diff * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)
    return per_sequence.mean()


def _masked_mse(act: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
    """Mean squared error over the valid positions and all hidden dims (float32)."""
    diff = act.float() - target.float()  # [B, T, H], target broadcast if [H]
    if mask is None:
        return diff.pow(2).mean()
    if tuple(mask.shape) != tuple(act.shape[:2]):
        raise ValueError(
            f"mask must be [batch, seq] matching activations {tuple(act.shape)}; "
            f"got shape {tuple(mask.shape)}"
        )
    valid = mask.to(device=act.device, dtype=torch.bool)
    count = valid.sum() * act.shape[-1]
    return (diff.pow(2) * valid.unsqueeze(-1)).sum() / count.clamp(min=1)


def rmu_loss(
    forget_act: Tensor,
    retain_act: Tensor,
    frozen_retain_act: Tensor,
    control_vec: Tensor,
    steering_coeff: float,
    retain_weight: float,
    forget_mask: Tensor | None,
    retain_mask: Tensor | None,
    reduction: str,
) -> tuple[Tensor, Tensor, Tensor]:
    """RMU loss at one layer.

    Args:
        forget_act: ``[B_f, T_f, H]`` layer activations of the unlearned model on the forget batch.
        retain_act: ``[B_r, T_r, H]`` layer activations of the unlearned model on the retain batch.
        frozen_retain_act: ``[B_r, T_r, H]`` same layer of the frozen model on the retain batch
            (detached here).
        control_vec: ``[H]`` unit vector ``u`` from :func:`make_control_vector`.
        steering_coeff: ``rmu.steering_coeff`` ``c``; the forget target is ``c * u``.
        retain_weight: ``rmu.retain_weight``, weight of the retain term.
        forget_mask: ``[B_f, T_f]`` bool/0-1 mask of forget positions to average over (typically
            the attention mask); ``None`` means every position, as the reference code.
        retain_mask: ``[B_r, T_r]`` same for the retain batch.
        reduction: ``tokens`` or ``all_positions`` pool every valid position of the batch
            (``all_positions`` passes ``None`` masks, see :func:`rmu_mask`); ``sequence``
            averages per-sequence means (masks required).

    Returns:
        ``(total, forget_term, retain_term)``, float32 scalars, with
        ``retain_term`` already multiplied by ``retain_weight`` and
        ``total = forget_term + retain_term``.
    """
    if control_vec.dim() != 1 or control_vec.shape[0] != forget_act.shape[-1]:
        raise ValueError(
            f"control_vec must be [hidden] = [{forget_act.shape[-1]}]; "
            f"got shape {tuple(control_vec.shape)}"
        )
    if retain_act.shape != frozen_retain_act.shape:
        raise ValueError(
            f"retain_act {tuple(retain_act.shape)} and frozen_retain_act "
            f"{tuple(frozen_retain_act.shape)} must have the same shape"
        )
    target = steering_coeff * control_vec.to(device=forget_act.device, dtype=torch.float32)
    check_reduction(reduction)
    if reduction == "sequence":
        if forget_mask is None or retain_mask is None:
            raise ValueError("reduction='sequence' needs both masks (see rmu_mask)")
        forget_term = _sequence_mse(forget_act, target, forget_mask)
        retain_term = retain_weight * _sequence_mse(
            retain_act, frozen_retain_act.detach(), retain_mask
        )
    else:
        forget_term = _masked_mse(forget_act, target, forget_mask)
        retain_term = retain_weight * _masked_mse(
            retain_act, frozen_retain_act.detach(), retain_mask
        )
    return forget_term + retain_term, forget_term, retain_term


@register("rmu")
class RMU(Objective):
    """Representation Misdirection for Unlearning (see :func:`rmu_loss`).

    Forget activations at ``layer`` are pushed to ``steering_coeff * u``; retain
    activations are held to the frozen reference's. Only the MLP down-projections
    of ``trainable_layers`` are trained. ``u`` is a buffer, saved with checkpoints.
    The retain term is part of the method, so no regularizer is accepted.

    Args:
        layer: decoder layer whose output is steered.
        trainable_layers: layers whose ``mlp.down_proj`` is trained.
        steering_coeff: scale of the steering target.
        retain_weight: weight of the retain term.
        reduction: how the MSEs are averaged (``method.reduction``, see :func:`rmu_mask`).
        hidden_size: model width (size of ``u``; supplied by the stage).
        seed: seed of ``u`` (the run seed; supplied by the stage).
    """

    needs_reference = True
    uses_retain = True
    accepts_regularizer = False

    def __init__(
        self,
        layer: int,
        trainable_layers: list[int],
        steering_coeff: float,
        retain_weight: float,
        reduction: str,
        hidden_size: int,
        seed: int,
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction
        self.layer = layer
        self.trainable_layers = list(trainable_layers)
        self.steering_coeff = steering_coeff
        self.retain_weight = retain_weight
        self.register_buffer("control_vec", make_control_vector(hidden_size, seed, torch.float32))

    def check_model(self, model: nn.Module) -> None:
        """Check the configured layers exist in this model (before the optimizer is built:
        with none of ``trainable_layers`` there, AdamW would get no parameter at all)."""
        n_layers = len(decoder_layers(model))
        bad = [i for i in [self.layer, *self.trainable_layers] if not 0 <= i < n_layers]
        if bad:
            raise UnpactConfigError(
                f"method.layer / method.trainable_layers name layers {bad}, but the model has "
                f"{n_layers} decoder layers (valid: 0..{n_layers - 1}); set them in "
                "conf/method_model/rmu_<model>.yaml."
            )

    def _activations(
        self, model: nn.Module, ctx: MethodContext, batch: Batch
    ) -> tuple[Tensor, Tensor]:
        """``(activations at method.layer, the forward's logits)``."""
        captured: list[Tensor] = []
        hook = decoder_layers(model)[self.layer].register_forward_hook(
            lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out)
        )
        try:
            output = ctx.forward_batch(model, batch)
        finally:
            hook.remove()
        return captured[0].float(), output.logits

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """RMU loss; the retain term is part of the method, not a regularizer."""
        if retain is None:
            raise RuntimeError("rmu needs retain batches, but the data module gave none")
        if ctx.reference is None:
            raise RuntimeError("rmu needs the frozen reference model, but none was loaded")
        with torch.no_grad():
            frozen, _ = self._activations(ctx.reference, ctx, retain)
        forget_act, forget_logits = self._activations(ctx.policy, ctx, forget)
        retain_act, retain_logits = self._activations(ctx.policy, ctx, retain)
        total, forget_term, retain_term = rmu_loss(
            forget_act,
            retain_act,
            frozen,
            self.control_vec,
            self.steering_coeff,
            self.retain_weight,
            rmu_mask(forget, self.reduction),
            rmu_mask(retain, self.reduction),
            self.reduction,
        )
        if _fsdp_root(ctx.policy):
            total = total + _anchor(forget_logits, retain_logits)
        return total, {"rmu_forget": forget_term.detach(), "rmu_retain": retain_term.detach()}

    def trainable(self, name: str) -> bool:
        """Only ``layers.<i>.mlp.down_proj`` of the configured layers."""
        return any(f"layers.{i}.mlp.down_proj." in name for i in self.trainable_layers)

    def adapter_layers(self) -> list[int]:
        """Under ``peft=lora`` the adapters go on ``trainable_layers`` only.

        The frozen activations then come from the same model with its adapters
        disabled (``ctx.reference`` is that view), so no frozen copy is loaded.
        """
        return list(self.trainable_layers)


def _fsdp_root(model: nn.Module) -> bool:
    """Whether ``model`` is an FSDP (v1) root (see :func:`_anchor`)."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    return isinstance(model, FullyShardedDataParallel)


def _anchor(*logits: Tensor) -> Tensor:
    """Exactly 0, but depending on the policy's outputs: FSDP (v1) needs that.

    RMU's loss reads a middle layer, never the model's output. FSDP (v1) starts its
    backward bookkeeping from a hook on its root's outputs; when they are not in the
    graph, the hook never fires, and the next collective finds the units still in their
    backward state ("Expects the handle training to be IDLE"). ``0 * sum(logits)`` puts
    the outputs in the graph; it adds exact zeros to the loss and to every gradient
    (finite logits), at the cost of a backward pass through the layers above
    ``method.layer``. Other strategies do not need it and do not pay for it.
    """
    return sum(0.0 * x.float().sum() for x in logits)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layer list of an HF causal LM (``model.model.layers``)."""
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if layers is None:
        raise UnpactConfigError(
            f"{type(model).__name__} has no model.layers; rmu supports decoder-only HF models."
        )
    return layers
