"""Representation Misdirection for Unlearning (RMU).

Reference: Li et al., "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning",
https://arxiv.org/abs/2403.03218, section 5 / eq. (1)-(2); reference code
https://github.com/centerforaisafety/wmdp (``rmu/unlearn.py``).

With ``h(x)`` the hidden states at layer ``rmu.layer`` of the model being unlearned,
``h_frozen(x)`` those of the frozen original model, ``u`` a fixed random unit vector and
``c = rmu.steering_coeff``, ``alpha = rmu.alpha``::

    L_forget = (1 / (N_f * H)) * sum_{(b,t) valid in forget} || h(x_f)[b,t] - c * u ||^2
    L_retain = alpha * (1 / (N_r * H)) * sum_{(b,t) valid in retain}
                                             || h(x_r)[b,t] - h_frozen(x_r)[b,t] ||^2
    L_RMU    = L_forget + L_retain

MSE reduction: the mean over the valid (mask) positions *and* the hidden dimensions, i.e. exactly
``F.mse_loss(act[mask], target)`` with the default ``reduction="mean"``, as the reference code does.
The one difference from the reference code is the mask: the reference averages over every position
of the padded batch (pad tokens included); passing an all-True mask (or ``None``) reproduces it.

``u`` follows the reference code: ``torch.rand`` (uniform on [0, 1)) normalised to unit L2 norm;
it is drawn once from a seeded ``torch.Generator`` so it is the same on every rank and every resume.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
    alpha: float,
    forget_mask: Tensor | None,
    retain_mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """RMU loss at one layer.

    Args:
        forget_act: ``[B_f, T_f, H]`` layer activations of the unlearned model on the forget batch.
        retain_act: ``[B_r, T_r, H]`` layer activations of the unlearned model on the retain batch.
        frozen_retain_act: ``[B_r, T_r, H]`` same layer of the frozen model on the retain batch
            (detached here).
        control_vec: ``[H]`` unit vector ``u`` from :func:`make_control_vector`.
        steering_coeff: ``rmu.steering_coeff`` ``c``; the forget target is ``c * u``.
        alpha: ``rmu.alpha``, weight of the retain term.
        forget_mask: ``[B_f, T_f]`` bool/0-1 mask of forget positions to average over (typically
            the attention mask); ``None`` means every position, as the reference code.
        retain_mask: ``[B_r, T_r]`` same for the retain batch.

    Returns:
        ``(total, forget_term, retain_term)``, float32 scalars, with
        ``retain_term`` already multiplied by ``alpha`` and ``total = forget_term + retain_term``.
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
    forget_term = _masked_mse(forget_act, target, forget_mask)
    retain_term = alpha * _masked_mse(retain_act, frozen_retain_act.detach(), retain_mask)
    return forget_term + retain_term, forget_term, retain_term
