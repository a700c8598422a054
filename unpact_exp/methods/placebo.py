"""The placebo arm: fine-tune on the retain set only, with the unlearning run's budget.

Issue 22's question: how much of "forgetting" and "recovery" is what *any* fine-tuning does
to the labels? The placebo runs the same trainer as every method (AdamW at a constant
learning rate, the same ``trainer.max_steps`` and batch size, the same retain batches) but
its loss never looks at the forget set::

    L_placebo(f, r) = NLL(r) = -(1 / N_r) * sum_{b,t} m_{b,t} * log p_theta(r_{b,t+1} | r_{b,<=t})

(:func:`~unpact_exp.methods.token_logprobs.mean_nll`: token mean over the retain batch's
target tokens). Each step still draws a forget batch, so an epoch has as many steps as the
methods' and ``trainer.max_steps`` means the same number of updates; the forget batch is
simply not used. Its ``forget_rate`` and recovery rates, read beside a method's, say how
much of that method's numbers fine-tuning alone produces.

Same learning rate as the method it stands beside: ``conf/method/placebo.yaml`` holds the
``ga``/``npo`` default, and ``conf/method_model/placebo_<model>.yaml`` the ``ga``/``npo``
value for that model (tiny: 1e-3, SmolLM2: 4e-5), so ``setting=placebo`` in a grid of
``ga+gd, npo+gd, ...`` trains exactly as they do. Beside ``rmu`` or ``tv`` (other learning
rates), run it with ``method.lr`` set to theirs.

The placebo carries its own retain handling: a regularizer is refused.

Worked example (``tests/methods/test_placebo.py``): one retain sequence, vocabulary 2,
labels ``[-100, 1, 0]``; logits ``[0, ln 3]`` predict label 1 (p = 3/4) and ``[0, 0]``
predict label 0 (p = 1/2); NLL = (ln 4/3 + ln 2) / 2 = 0.490415.
"""

from __future__ import annotations

from torch import Tensor

from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.token_logprobs import mean_nll


def placebo_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Token-mean NLL of the retain batch: ordinary fine-tuning on retain data.

    Args:
        logits: ``[B, T, V]`` policy outputs on the retain batch.
        labels: ``[B, T]`` retain token ids, ``-100`` where not a target.

    Returns:
        Scalar float32 tensor ``mean_nll(logits, labels)``.
    """
    return mean_nll(logits, labels)


@register("placebo")
class Placebo(Objective):
    """Fine-tune on retain batches only (see :func:`placebo_loss`); the forget batch is unused.

    The module logs this loss as ``train/forget_loss`` (the objective's term) and here as
    ``retain_nll``. It has no settings beyond the training keys every method has.
    """

    uses_retain = True
    accepts_regularizer = False

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """NLL of the retain batch."""
        if retain is None:
            raise RuntimeError("placebo needs retain batches, but the data module gave none")
        nll = placebo_loss(ctx.forward_batch(ctx.policy, retain).logits, retain["labels"])
        return nll, {"retain_nll": nll.detach()}
