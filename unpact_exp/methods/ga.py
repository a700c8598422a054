"""Gradient ascent (GA) forget objective.

Reference: Jang et al., "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
https://arxiv.org/abs/2210.01504 (the ``ga`` baseline of MUSE, https://arxiv.org/abs/2407.06460).

Equation (minimised)::

    L_GA(f) = -NLL(f) = (1 / N) * sum_{b,t} m_{b,t} * log p_theta(y_{b,t+1} | y_{b,<=t})

with ``N = sum m`` the number of target tokens of the forget batch ``f``; ``NLL`` is
:func:`unpact_exp.methods.token_logprobs.mean_nll` (causal shift, ``-100`` ignored). Minimising it
pushes the forget-target log-probabilities down without bound, which is why GA is normally paired
with a retain regularizer (``gd`` or ``kl``).
"""

from __future__ import annotations

from torch import Tensor

from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.token_logprobs import mean_nll


def ga_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Negated token-mean NLL of the forget batch (minimise it to unlearn).

    Args:
        logits: ``[B, T, V]`` policy outputs on the forget batch.
        labels: ``[B, T]`` forget token ids, ``-100`` where not a target.

    Returns:
        Scalar float32 tensor ``-mean_nll(logits, labels)``.
    """
    return -mean_nll(logits, labels)


@register("ga")
class GradientAscent(Objective):
    """GA: minimise ``-NLL(forget)`` (see :func:`ga_loss`)."""

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Negated token-mean NLL of the forget batch."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        loss = ga_loss(logits, forget["labels"])
        return loss, {"forget_nll": -loss.detach()}
