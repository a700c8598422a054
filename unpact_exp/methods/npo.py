"""Negative Preference Optimization (NPO) forget objective.

Reference: Zhang et al., "Negative Preference Optimization: From Catastrophic Collapse to
Effective Unlearning", https://arxiv.org/abs/2404.05868, eq. (3).

Equation (minimised), over the ``B`` sequences of the forget batch::

    L_NPO = -(2 / beta) * (1 / B) * sum_b log sigmoid(-beta * (logp_theta(y_b) - logp_ref(y_b)))

where ``logp(y_b)`` is the *sequence* log-probability, the sum over the target tokens of sequence
``b`` (:func:`unpact_exp.methods.token_logprobs.sequence_logprob`). ``beta`` is ``npo.beta`` in the
config (0.1 in docs/science.md §6).

Properties the tests pin down:

- at ``logp_theta == logp_ref`` the loss is ``(2 / beta) * log 2``;
- the loss decreases monotonically towards 0 as ``logp_theta`` falls below ``logp_ref``, so
  minimising it lowers the forget log-probability; unlike GA the gradient weight
  ``2 * sigmoid(beta * (logp_theta - logp_ref))`` vanishes as the policy drifts far below the
  reference, which is what slows the collapse;
- as ``beta -> 0`` the loss tends to GA on the sequence log-prob (up to a constant).

The reference log-probs never change during unlearning and may be computed once and cached; they
are detached here in any case.

Token-weighted NPO (``method.token_weighting``, docs/science.md §11): the sequence log-prob is
replaced by the weighted sum ``sum_t w_{b,t} log p(y_{b,t})`` for the policy *and* the reference,
with the same weights (:mod:`unpact_exp.methods.token_weights`, mean 1 over the batch's target
tokens), so the log-ratio is 0 at the start as in plain NPO.

MUSE's formula (``method.formula: muse``; MUSE's ``npo`` in ``baselines/baselines/iterative.py``
of github.com/swj0419/muse_bench). MUSE applies the NPO expression to the raw *logits*, element
by element over the whole ``[B, T, V]`` tensor, prompt and padding positions included::

    L_NPO_MUSE = -(2 / beta) * mean_{b,t,v} log sigmoid(beta * (z_ref[b,t,v] - z_theta[b,t,v]))

with ``z`` the logits of the forget batch under the frozen reference and the policy. It is not
the paper's sequence-level loss (the logits are not log-probabilities, and every vocabulary
entry counts), but it is what produced MUSE's published NPO numbers. It needs the reference
model's logits at every step (the reference is loaded; nothing is cached) and works only with
``token_weighting: uniform``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from unpact_exp.config import checks
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.reference_cache import check_covered, fill_missing_mask, guard_known
from unpact_exp.methods.registry import register
from unpact_exp.methods.regularizers import Formula, check_forget_weight
from unpact_exp.methods.token_logprobs import mean_nll, sequence_logprob, token_logprobs
from unpact_exp.methods.token_weights import (
    ForgetPrompts,
    Weighting,
    fill_weights,
    make_token_weights,
    weight_logs,
)
from unpact_exp.unpact.config import UnpactConfig


def _check_beta(beta: float) -> None:
    """A hand-called loss with a beta the config would refuse (a config is bound earlier)."""
    if not (math.isfinite(beta) and beta > 0):
        raise ValueError(f"NPO's beta must be a finite number > 0 (method.beta); got {beta!r}")


def npo_loss(policy_seq_logp: Tensor, ref_seq_logp: Tensor, beta: float) -> Tensor:
    """NPO loss on per-sequence log-probabilities.

    Args:
        policy_seq_logp: ``[B]`` sequence log-probs of the model being unlearned.
        ref_seq_logp: ``[B]`` sequence log-probs of the frozen reference model (detached here).
        beta: inverse temperature ``method.beta`` (> 0, checked where the method is bound).

    Returns:
        Scalar tensor, the mean over the batch.

    Raises:
        ValueError: ``beta`` is not a finite number > 0 (a config is refused earlier, where
            the method is bound), or the two log-prob tensors differ in shape.
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


def npo_muse_loss(policy_logits: Tensor, ref_logits: Tensor, beta: float) -> Tensor:
    """MUSE's NPO: ``-(2/beta) * mean log sigmoid(beta * (ref_logits - policy_logits))``.

    Args:
        policy_logits: ``[B, T, V]`` policy logits on the forget batch.
        ref_logits: ``[B, T, V]`` reference logits on the same batch (detached here).
        beta: inverse temperature ``method.beta``; a finite number > 0.

    Returns:
        Scalar float32 tensor, the mean over every element of ``[B, T, V]``.
    """
    _check_beta(beta)
    if ref_logits.shape != policy_logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} and policy_logits "
            f"{tuple(policy_logits.shape)} must have the same shape"
        )
    neg_log_ratio = ref_logits.detach().float() - policy_logits.float()
    beta = float(beta)
    return -(2.0 / beta) * F.logsigmoid(beta * neg_log_ratio).mean()


def weighted_sequence_logprob(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``sum_t w_{b,t} log p(y_{b,t})`` per sequence: NPO's log-prob under token weights.

    Args:
        logits: ``[B, T, V]`` model outputs.
        labels: ``[B, T]`` token ids, ``-100`` where not a target.
        weights: ``[B, T - 1]`` weights in shifted coordinates (0 off the targets).

    Returns:
        ``[B]`` float32; :func:`sequence_logprob` when every target weight is 1.
    """
    logp, _ = token_logprobs(logits, labels)
    return (weights.to(logp.dtype) * logp).sum(dim=-1)


@register("npo")
class NPO(Objective):
    """NPO with sequence log-probs; reference log-probs cached once (arXiv 2404.05868).

    The reference model is the policy before the first update, and the forget set
    never changes, so its log-probs are computed in one pass at the start of fit, for
    the examples the fit trains on and under the training precision, and stored in a
    buffer with a mask of the examples computed (saved in checkpoints, so a resumed run
    reuses them rather than recomputing them with the partly unlearned policy; see
    :mod:`unpact_exp.methods.reference_cache`).

    With token weights, the reference is cached per token (in ``token_weights``), because
    the weights are normalised per batch and batches are reshuffled every epoch.

    With ``method.formula: muse`` the loss is MUSE's (:func:`npo_muse_loss`): the reference
    model is loaded and forwarded on every batch, and no log-prob is cached.

    Args:
        beta: NPO's inverse temperature (``method.beta``).
        token_weighting: ``uniform`` (plain NPO), ``keytoken`` or ``question`` (see
            :mod:`unpact_exp.methods.token_weights`).
        forget_weight: weight of this forget term beside the regularizer's.
        keytoken_window: window length of raw-text forget chunks (``method.keytoken_window``).
        unpact: the run's ``unpact`` settings, which find M0's KeyTokens (supplied by the stage).
        n_forget: number of forget examples (the cache size; supplied by the stage).
        forget_prompts: returns the units of the forget examples (supplied by the stage;
            ``None`` only for objectives built by hand, uniform weights only).
        formula: ``standard`` (the paper's, above) or ``muse`` (MUSE's code; ``method.formula``).
    """

    def __init__(
        self,
        beta: float,
        token_weighting: Weighting,
        forget_weight: float,
        keytoken_window: int,
        unpact: UnpactConfig,
        n_forget: int,
        forget_prompts: Callable[..., ForgetPrompts] | None,
        formula: Formula,
    ) -> None:
        super().__init__()
        checks.positive("method.beta", beta)
        if formula == "muse" and token_weighting != "uniform":
            raise UnpactConfigError(
                f"method.formula=muse works on raw logits, not token weights: use "
                f"method.token_weighting=uniform (got {token_weighting!r})."
            )
        self.formula = formula
        self.needs_reference = formula == "muse"  # MUSE's loss reads the reference's logits
        self.token_weights = make_token_weights(
            token_weighting, unpact, keytoken_window, n_forget, forget_prompts
        )
        check_forget_weight(forget_weight)
        self.beta = beta
        self.forget_weight = forget_weight
        self.forget_prompts = forget_prompts
        self.register_buffer("ref_logp", torch.zeros(n_forget))
        self.register_buffer("ref_known", torch.zeros(n_forget, dtype=torch.bool))
        self.register_buffer("cache_ready", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def on_fit_start(self, ctx: MethodContext) -> None:
        """Cache the untouched policy's log-probs of the examples this fit trains on.

        Only the batches the fit can reach (:meth:`MethodContext.forget_batches_to_train`),
        under the training precision (:meth:`MethodContext.reference_context`): on one
        process they are the training batches themselves, so the first step's log-ratio is
        exactly 0 under ``bf16-mixed`` too. A cache restored from a checkpoint is kept
        (after checking it covers this fit).
        """
        if self.formula == "muse":
            return  # MUSE's loss reads the loaded reference at every step
        if self.token_weights is not None:
            fill_weights(self.token_weights, ctx, self.forget_prompts)
        batches = ctx.forget_batches_to_train()
        if bool(self.cache_ready):
            check_covered(self.ref_known, batches, "NPO's reference log-probs")
            return
        was_training = ctx.policy.training
        ctx.policy.eval()
        for batch in batches:
            batch = {k: v.to(ctx.device) for k, v in batch.items()}
            with ctx.reference_context():
                logits = ctx.forward_batch(ctx.policy, batch).logits
            self.ref_logp[batch["index"]] = sequence_logprob(logits, batch["labels"]).float()
            self.ref_known[batch["index"]] = True
        ctx.policy.train(was_training)
        self.cache_ready.fill_(True)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        fill_missing_mask(state_dict, prefix, "ref_known", "cache_ready", "ref_logp")
        super()._load_from_state_dict(state_dict, prefix, *args)

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """NPO loss against the cached reference log-probs of this batch's examples."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        labels, index = forget["labels"], forget["index"]
        logs = {"forget_nll": mean_nll(logits.detach(), labels)}
        if self.formula == "muse":
            if ctx.reference is None:
                raise RuntimeError("method.formula=muse needs the reference model; none loaded")
            with torch.no_grad():
                ref_logits = ctx.forward_batch(ctx.reference, forget).logits
            return npo_muse_loss(logits, ref_logits, self.beta), logs
        if self.token_weights is None:
            guard_known(self.ref_known, index, "NPO's reference log-probs")
            policy_logp = sequence_logprob(logits, labels)
            return npo_loss(policy_logp.float(), self.ref_logp[index], self.beta), logs
        mask = labels[:, 1:] != -100
        weights = self.token_weights.batch(index, mask)
        policy_logp = weighted_sequence_logprob(logits, labels, weights)
        ref_logp = (weights * self.token_weights.reference(index, mask.shape[1])).sum(dim=-1)
        loss = npo_loss(policy_logp, ref_logp, self.beta)
        return loss, {**logs, **weight_logs(weights, mask)}
