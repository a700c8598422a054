"""Gradient ascent (GA) forget objective.

Reference: Jang et al., "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
https://arxiv.org/abs/2210.01504 (the ``ga`` baseline of MUSE, https://arxiv.org/abs/2407.06460).

Equation (minimised)::

    L_GA(f) = -NLL(f) = (1 / N) * sum_{b,t} m_{b,t} * log p_theta(y_{b,t+1} | y_{b,<=t})

with ``N = sum m`` the number of target tokens of the forget batch ``f``; ``NLL`` is
:func:`unpact_exp.methods.token_logprobs.mean_nll` (causal shift, ``-100`` ignored). Minimising it
pushes the forget-target log-probabilities down without bound, which is why GA is normally paired
with a retain regularizer (``gd`` or ``kl``).

Token-weighted GA (``method.token_weighting``, docs/science.md §11; weights ``w`` from
:mod:`unpact_exp.methods.token_weights`, mean 1 over the batch's target tokens)::

    L_wGA(f) = -(1 / N) * sum_{b,t} w_{b,t} * nll_{b,t} = (1 / N) * sum_{b,t} w_{b,t} * log p_{b,t}

which is ``L_GA`` when every ``w`` is 1 (``uniform``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.regularizers import check_forget_weight
from unpact_exp.methods.token_logprobs import mean_nll, token_logprobs
from unpact_exp.methods.token_weights import (
    ForgetPrompts,
    Weighting,
    fill_weights,
    make_token_weights,
    weight_logs,
)
from unpact_exp.unpact.config import UnpactConfig


def ga_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Negated token-mean NLL of the forget batch (minimise it to unlearn).

    Args:
        logits: ``[B, T, V]`` policy outputs on the forget batch.
        labels: ``[B, T]`` forget token ids, ``-100`` where not a target.

    Returns:
        Scalar float32 tensor ``-mean_nll(logits, labels)``.
    """
    return -mean_nll(logits, labels)


def weighted_ga_loss(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """Token-weighted GA: ``sum(w * log p) / N`` over the target tokens (minimise it).

    Args:
        logits: ``[B, T, V]`` policy outputs on the forget batch.
        labels: ``[B, T]`` forget token ids, ``-100`` where not a target.
        weights: ``[B, T - 1]`` per-target weights in shifted coordinates (mean 1 over the
            targets, see :func:`~unpact_exp.methods.token_weights.normalize_weights`).

    Returns:
        Scalar float32 tensor; equals :func:`ga_loss` when every weight is 1.
    """
    logp, mask = token_logprobs(logits, labels)
    return (weights.to(logp.dtype) * logp).sum() / mask.sum().clamp(min=1)


@register("ga")
class GradientAscent(Objective):
    """GA: minimise ``-NLL(forget)`` (see :func:`ga_loss`), optionally token-weighted.

    Args:
        token_weighting: ``uniform`` (plain GA), ``keytoken`` or ``question`` (see
            :mod:`unpact_exp.methods.token_weights`).
        forget_weight: weight of this forget term beside the regularizer's.
        keytoken_window: window length of raw-text forget chunks (``method.keytoken_window``).
        unpact: the run's ``unpact`` settings, which find M0's KeyTokens (supplied by the stage).
        n_forget: number of forget examples (supplied by the stage).
        forget_prompts: returns the units of the forget examples (question units of QA
            pairs, window units of raw text) for a granularity, filler and removal (supplied
            by the stage; ``None`` only for objectives built by hand, uniform weights only).
    """

    def __init__(
        self,
        token_weighting: Weighting,
        forget_weight: float,
        keytoken_window: int,
        unpact: UnpactConfig,
        n_forget: int,
        forget_prompts: Callable[..., ForgetPrompts] | None,
    ) -> None:
        super().__init__()
        self.token_weights = make_token_weights(
            token_weighting, unpact, keytoken_window, n_forget, forget_prompts
        )
        check_forget_weight(forget_weight)
        self.forget_weight = forget_weight
        self.forget_prompts = forget_prompts

    def on_fit_start(self, ctx: MethodContext) -> None:
        """Compute the token weights with the untouched policy (M0), unless restored."""
        if self.token_weights is not None:
            fill_weights(self.token_weights, ctx, self.forget_prompts)

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Negated (weighted) token-mean NLL of the forget batch."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        labels = forget["labels"]
        if self.token_weights is None:
            loss = ga_loss(logits, labels)
            return loss, {"forget_nll": -loss.detach()}
        mask = labels[:, 1:] != -100
        weights = self.token_weights.batch(forget["index"], mask)
        loss = weighted_ga_loss(logits, labels, weights)
        logs = {"forget_nll": mean_nll(logits.detach(), labels), **weight_logs(weights, mask)}
        return loss, logs
