"""Negative Preference Optimization (NPO) forget objective.

Reference: Zhang et al., "Negative Preference Optimization: From Catastrophic Collapse to
Effective Unlearning", https://arxiv.org/abs/2404.05868, eq. (3).

Equation (minimised), over the ``B`` sequences of the forget batch::

    L_NPO = -(2 / beta) * (1 / B) * sum_b log sigmoid(-beta * (logp_theta(y_b) - logp_ref(y_b)))

where ``logp(y_b)`` is the *sequence* log-probability, the sum over the target tokens of sequence
``b`` (:func:`unpact_exp.losses.token_logprobs.sequence_logprob`). ``beta`` is ``npo.beta`` in the
config (0.1 in SPEC section 6).

Properties the tests pin down:

- at ``logp_theta == logp_ref`` the loss is ``(2 / beta) * log 2``;
- the loss decreases monotonically towards 0 as ``logp_theta`` falls below ``logp_ref``, so
  minimising it lowers the forget log-probability; unlike GA the gradient weight
  ``2 * sigmoid(beta * (logp_theta - logp_ref))`` vanishes as the policy drifts far below the
  reference, which is what slows the collapse;
- as ``beta -> 0`` the loss tends to GA on the sequence log-prob (up to a constant).

The reference log-probs never change during unlearning and may be computed once and cached; they
are detached here in any case.
"""

from __future__ import annotations

import math
import numbers

import torch.nn.functional as F
from torch import Tensor

from unpact_exp.errors import UnpactConfigError


def _check_beta(beta: float) -> None:
    # A string or bool is a config typo, not a number: reject it rather than coerce it.
    is_number = isinstance(beta, numbers.Real) and not isinstance(beta, bool)
    value = float(beta) if is_number else math.nan
    if not math.isfinite(value) or value <= 0:
        raise UnpactConfigError(
            f"npo.beta must be a finite number > 0 (SPEC default 0.1); got {beta!r}"
        )


def npo_loss(policy_seq_logp: Tensor, ref_seq_logp: Tensor, beta: float) -> Tensor:
    """NPO loss on per-sequence log-probabilities.

    Args:
        policy_seq_logp: ``[B]`` sequence log-probs of the model being unlearned.
        ref_seq_logp: ``[B]`` sequence log-probs of the frozen reference model (detached here).
        beta: inverse temperature ``npo.beta``; must be a finite number > 0.

    Returns:
        Scalar tensor, the mean over the batch.

    Raises:
        UnpactConfigError: if ``beta`` is not a finite number > 0.
        ValueError: if the two log-prob tensors do not have the same shape.
    """
    _check_beta(beta)
    if policy_seq_logp.shape != ref_seq_logp.shape:
        raise ValueError(
            f"policy_seq_logp {tuple(policy_seq_logp.shape)} and ref_seq_logp "
            f"{tuple(ref_seq_logp.shape)} must have the same shape (one value per sequence)"
        )
    ref = ref_seq_logp.detach().to(policy_seq_logp.dtype)
    log_ratio = policy_seq_logp - ref
    beta = float(beta)
    return -(2.0 / beta) * F.logsigmoid(-beta * log_ratio).mean()
