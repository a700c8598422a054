"""UNDIAL: self-distillation towards the original model with the target token's logit lowered.

Reference: Dong et al., "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in
Large Language Models", https://arxiv.org/abs/2402.10052; open-unlearning's ``UNDIAL``
(``compute_undial_loss`` in ``src/trainer/utils.py`` of locuslab/open-unlearning).

At every target position ``t`` of the forget batch, the frozen original model's logits ``z_t``
(the teacher, ``p_ref``) have the logit of the token actually there, ``y_t``, lowered by the
strength ``s``; the student (the model being unlearned) is trained by cross-entropy towards the
softmax of the adjusted logits::

    q_t      = softmax(z_t - s * onehot(y_t))
    L_UNDIAL = (1 / N) * sum_{b,t} m_{b,t} * ( - sum_v q_t(v) * log p_theta(v | b, t) )

with the causal shift of :mod:`unpact_exp.methods.token_logprobs` (``m_{b,t}`` marks the target
positions, ``N = sum m``). Only the target token's probability is pushed down, by a bounded
amount; the rest of the distribution keeps the original model's shape, which is what makes the
method stable: the target ``q_t`` is fixed, so the loss cannot run away as gradient ascent does.

Difference to open-unlearning's code: it averages the cross-entropy over *every* position of
the batch, prompt and padding included, and there the label ``-100`` indexes vocabulary entry
``V - 100`` (negative indexing) when it builds the one-hot mask. Here only target positions
count. On a batch whose every position after the first is a target the two are equal (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.regularizers import check_forget_weight
from unpact_exp.methods.simnpo import check_positive
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, _check_shapes, mean_nll


def undial_loss(
    policy_logits: Tensor, ref_logits: Tensor, labels: Tensor, strength: float
) -> Tensor:
    """UNDIAL's distillation loss on a forget batch.

    Args:
        policy_logits: ``[B, T, V]`` outputs of the model being unlearned.
        ref_logits: ``[B, T, V]`` outputs of the frozen original model (detached here).
        labels: ``[B, T]`` forget token ids, ``-100`` where not a target.
        strength: how much the target token's logit is lowered (``method.strength``), > 0.

    Returns:
        Scalar float32 tensor (0 for a batch without target tokens).
    """
    _check_shapes(policy_logits, labels)
    if ref_logits.shape != policy_logits.shape:
        raise ValueError(
            f"ref_logits {tuple(ref_logits.shape)} and policy_logits "
            f"{tuple(policy_logits.shape)} must have the same shape"
        )
    check_positive("strength", strength)
    targets = labels[:, 1:]
    mask = targets != IGNORE_INDEX
    teacher = ref_logits[:, :-1, :].detach().float()
    onehot = F.one_hot(targets.masked_fill(~mask, 0), teacher.shape[-1]).to(teacher.dtype)
    soft = torch.softmax(teacher - float(strength) * onehot, dim=-1)
    log_student = F.log_softmax(policy_logits[:, :-1, :].float(), dim=-1)
    per_position = -(soft * log_student).sum(dim=-1)
    return (per_position * mask).sum() / mask.sum().clamp(min=1)


@register("undial")
class UNDIAL(Objective):
    """UNDIAL (arXiv 2402.10052): distil the original model with the target logit lowered.

    The original model is the frozen reference (a loaded copy, or under ``peft=lora`` the
    model with its adapters switched off), forwarded on every forget batch.

    Args:
        strength: amount subtracted from the target token's logit (``method.strength``; the
            ``beta`` of open-unlearning's config).
        forget_weight: weight of this forget term beside the regularizer's.
    """

    needs_reference = True

    def __init__(self, strength: float, forget_weight: float) -> None:
        super().__init__()
        check_positive("strength", strength)
        check_forget_weight(forget_weight)
        self.strength = strength
        self.forget_weight = forget_weight

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Cross-entropy to the adjusted teacher distribution on the forget targets."""
        if ctx.reference is None:
            raise RuntimeError("method=undial needs the frozen reference model; none was loaded")
        logits = ctx.forward_batch(ctx.policy, forget).logits
        with torch.no_grad():
            ref_logits = ctx.forward_batch(ctx.reference, forget).logits
        labels = forget["labels"]
        loss = undial_loss(logits, ref_logits, labels, self.strength)
        return loss, {"forget_nll": mean_nll(logits.detach(), labels)}
