"""SimNPO: NPO without a reference model, on the length-normalised log-probability.

Reference: Fan et al., "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning", https://arxiv.org/abs/2410.07163, eq. (4); code: github.com/OPTML-Group/Unlearn-Simple
(``TOFU/dataloader.py``, loss ``simnpo``) and open-unlearning's ``SimNPO``
(``src/trainer/unlearn/simnpo.py``).

Equation (minimised), over the ``B`` sequences of the forget batch, with ``|y_b|`` the number of
target tokens of sequence ``b`` and ``logp(y_b)`` their summed log-probability::

    L_SimNPO = -(2 / beta) * (1 / B) * sum_b log sigmoid(beta * (-logp(y_b) / |y_b| - gamma))

i.e. NPO with the reference log-probability replaced by the margin ``gamma`` on the token-mean
NLL. The margin enters as in the authors' code and open-unlearning (their ``gamma`` / ``delta``):
multiplied by ``beta``. The paper writes ``log sigmoid(-(beta / |y|) log p(y) - gamma')``, which
is the same loss with ``gamma' = beta * gamma``.

Properties the tests pin down: at ``NLL/|y| == gamma`` the loss is ``(2 / beta) log 2``; it falls
towards 0 as the normalised NLL grows (minimising it lowers the forget likelihood), and its
gradient weight ``2 sigmoid(-beta (NLL/|y| - gamma))`` vanishes once the answer is unlikely, as
NPO's does.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from unpact_exp.config import checks
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.regularizers import check_forget_weight
from unpact_exp.methods.token_logprobs import mean_nll, token_logprobs


def check_positive(key: str, value: float) -> None:
    """Refuse a value <= 0 for ``method.<key>`` (its type and finiteness are the binder's)."""
    checks.positive(f"method.{key}", value)


def simnpo_loss(logits: Tensor, labels: Tensor, beta: float, gamma: float) -> Tensor:
    """SimNPO loss of a forget batch.

    Args:
        logits: ``[B, T, V]`` policy outputs on the forget batch.
        labels: ``[B, T]`` forget token ids, ``-100`` where not a target.
        beta: inverse temperature (``method.beta``), > 0.
        gamma: margin on the token-mean NLL (``method.gamma``), >= 0 in the paper.

    Returns:
        Scalar float32 tensor, the mean over the batch.
    """
    check_positive("beta", beta)
    logp, mask = token_logprobs(logits, labels)
    per_token_nll = -logp.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)
    beta = float(beta)
    return -(2.0 / beta) * F.logsigmoid(beta * (per_token_nll - float(gamma))).mean()


@register("simnpo")
class SimNPO(Objective):
    """SimNPO (arXiv 2410.07163): reference-free, length-normalised NPO with a margin.

    Args:
        beta: inverse temperature (``method.beta``).
        gamma: margin on the token-mean NLL (``method.gamma``).
        forget_weight: weight of this forget term beside the regularizer's.
    """

    def __init__(self, beta: float, gamma: float, forget_weight: float) -> None:
        super().__init__()
        check_positive("beta", beta)
        check_forget_weight(forget_weight)
        self.beta = beta
        self.gamma = gamma
        self.forget_weight = forget_weight

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """SimNPO loss of the forget batch (no reference model)."""
        logits = ctx.forward_batch(ctx.policy, forget).logits
        labels = forget["labels"]
        loss = simnpo_loss(logits, labels, self.beta, self.gamma)
        return loss, {"forget_nll": mean_nll(logits.detach(), labels)}
