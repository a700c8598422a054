"""Retain-set regularizers composable with the ``ga`` and ``npo`` forget objectives.

References: the ``GD`` and ``KL`` retain terms of MUSE (Shi et al., https://arxiv.org/abs/2407.06460,
section 4) and TOFU (Maini et al., https://arxiv.org/abs/2401.06121).

Equations, on a retain batch ``r`` with the causal shift of
:mod:`unpact_exp.losses.token_logprobs` (logits at position ``t`` predict ``labels[:, t+1]``;
``m_{b,t} = [labels[b, t+1] != -100]``, ``N = sum m``)::

    L_GD(r) = NLL(r) = -(1 / N) * sum_{b,t} m_{b,t} * log p_theta(labels[b, t+1] | logits[b, t])

    L_KL(r) = (1 / N) * sum_{b,t} m_{b,t} * sum_v p_ref(v | b, t) * (log p_ref(v | b, t)
                                                                  - log p_theta(v | b, t))

so the KL is the *forward* KL(p_ref || p_theta), summed over the vocabulary at each position and
averaged over exactly the positions ``t`` whose next token ``labels[:, t+1]`` is a target: the same
positions, and the same count ``N``, as the NLL. The label values themselves do not enter the KL,
only which positions they mark.

Both return the unweighted term. The caller adds ``reg.weight * term`` to the forget objective
(``reg.weight`` lives in the ``regularizer`` config group); nothing here reads or applies it.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from unpact_exp.losses.token_logprobs import IGNORE_INDEX, _check_shapes, mean_nll


def gd_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Token-mean NLL on the retain batch (gradient *descent* keeps retain knowledge).

    Args:
        logits: ``[B, T, V]`` policy outputs on the retain batch.
        labels: ``[B, T]`` retain token ids, ``-100`` where not a target.

    Returns:
        Scalar float32 tensor ``mean_nll(logits, labels)``; the caller multiplies by
        ``reg.weight``.
    """
    return mean_nll(logits, labels)


def kl_loss(ref_logits: Tensor, policy_logits: Tensor, labels: Tensor) -> Tensor:
    """Token-level forward KL(p_ref || p_theta) on the retain batch.

    Args:
        ref_logits: ``[B, T, V]`` frozen reference-model outputs (detached here).
        policy_logits: ``[B, T, V]`` outputs of the model being unlearned.
        labels: ``[B, T]`` retain token ids; only ``labels[:, 1:] != -100`` is used, to select the
            positions ``t`` (of the logits) that are averaged.

    Returns:
        Scalar float32 tensor, the KL summed over the vocabulary and averaged over the selected
        positions (0 if there are none); the caller multiplies by ``reg.weight``.
    """
    _check_shapes(policy_logits, labels)
    if ref_logits.shape != policy_logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} and policy_logits "
            f"{tuple(policy_logits.shape)} must have the same shape"
        )
    mask = labels[:, 1:] != IGNORE_INDEX
    log_ref = F.log_softmax(ref_logits[:, :-1, :].detach().float(), dim=-1)
    log_theta = F.log_softmax(policy_logits[:, :-1, :].float(), dim=-1)
    # kl_div(input, target, log_target=True) = exp(target) * (target - input): KL(target || input).
    per_position = F.kl_div(log_theta, log_ref, reduction="none", log_target=True).sum(dim=-1)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)
