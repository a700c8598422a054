"""IdkDPO: DPO that prefers an "I don't know" answer to the forget answer.

References: Rafailov et al., "Direct Preference Optimization", https://arxiv.org/abs/2305.18290,
as TOFU uses it for unlearning (Maini et al., https://arxiv.org/abs/2401.06121, loss ``dpo`` of
github.com/locuslab/tofu ``dataloader.py``) and open-unlearning's ``DPO`` with ``IDK`` data
(``compute_dpo_loss`` in ``src/trainer/utils.py`` of locuslab/open-unlearning).

For each forget question ``x`` the preferred answer ``w`` is a refusal from ``method.idk_answers``
and the dispreferred one ``l`` is the forget answer. With ``logp`` the summed target-token
log-probability of an answer after its prompt (policy ``theta``, frozen original ``ref``)::

    L_IdkDPO = -(2 / beta) * (1 / B) * sum_b log sigmoid(beta * ((logp_theta(w_b) - logp_ref(w_b))
                                                              - (logp_theta(l_b) - logp_ref(l_b))))

the ``2 / beta`` scale of TOFU's and open-unlearning's code (plain DPO has none). At the start
(``theta = ref``) the loss is ``(2 / beta) log 2``; it falls as the refusal gains likelihood
against the forget answer relative to where both started.

Which refusal: TOFU and open-unlearning draw one at random from a list of about 100 every time an
example is fetched. Here each forget example keeps one refusal for the whole run, drawn once from
``method.idk_answers`` with the run seed (``random.Random(seed)``), so a resumed run sees the
same pairs. The list is this project's own wording, not TOFU's file.

The original model is the frozen reference (a loaded copy, or under ``peft=lora`` the adapters
switched off), forwarded on both answers of every batch. Needs ``data.train_on=qa``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.registry import register
from unpact_exp.methods.regularizers import check_forget_weight
from unpact_exp.methods.simnpo import check_positive
from unpact_exp.methods.token_logprobs import mean_nll, sequence_logprob

ForgetAlternates = Callable[[Sequence[int], Sequence[str]], dict[str, Any]]


def dpo_loss(
    win_policy: Tensor, win_ref: Tensor, lose_policy: Tensor, lose_ref: Tensor, beta: float
) -> Tensor:
    """DPO loss with TOFU's ``2 / beta`` scale, on per-sequence log-probabilities.

    Args:
        win_policy: ``[B]`` policy log-probs of the preferred answers.
        win_ref: ``[B]`` reference log-probs of the preferred answers (detached here).
        lose_policy: ``[B]`` policy log-probs of the dispreferred answers.
        lose_ref: ``[B]`` reference log-probs of the dispreferred answers (detached here).
        beta: inverse temperature (``method.beta``), > 0.

    Returns:
        Scalar tensor, the mean over the batch.
    """
    check_positive("beta", beta)
    shapes = {tuple(t.shape) for t in (win_policy, win_ref, lose_policy, lose_ref)}
    if len(shapes) != 1:
        raise ValueError(f"the four log-prob tensors must have one shape; got {sorted(shapes)}")
    win = win_policy - win_ref.detach().to(win_policy.dtype)
    lose = lose_policy - lose_ref.detach().to(lose_policy.dtype)
    beta = float(beta)
    return -(2.0 / beta) * F.logsigmoid(beta * (win - lose)).mean()


def refusal_choice(n_forget: int, n_answers: int, seed: int) -> list[int]:
    """The refusal index of each forget example: seeded draws, fixed for the run."""
    rng = random.Random(seed)
    return [rng.randrange(n_answers) for _ in range(n_forget)]


@register("idkdpo")
class IdkDPO(Objective):
    """DPO with "I don't know" as the preferred answer and the forget answer as the other.

    Args:
        beta: inverse temperature (``method.beta``).
        idk_answers: the refusals one is drawn from per forget example (``method.idk_answers``).
        forget_weight: weight of this forget term beside the regularizer's.
        n_forget: number of forget examples (supplied by the stage).
        seed: the run seed, which draws the refusals (supplied by the stage).
        forget_alternates: re-encodes forget examples with other answers (supplied by the
            stage; ``None`` unless ``data.train_on=qa``).
    """

    needs_reference = True

    def __init__(
        self,
        beta: float,
        idk_answers: list[str],
        forget_weight: float,
        n_forget: int,
        seed: int,
        forget_alternates: ForgetAlternates | None,
    ) -> None:
        super().__init__()
        check_positive("beta", beta)
        check_forget_weight(forget_weight)
        answers = [a for a in idk_answers if isinstance(a, str) and a.strip()]
        if not answers or len(answers) != len(idk_answers):
            raise UnpactConfigError(
                f"method.idk_answers={idk_answers!r} must be a non-empty list of non-empty "
                "refusal strings (e.g. ['I don't know.'])."
            )
        if forget_alternates is None:
            raise UnpactConfigError(
                "method=idkdpo pairs each forget question with a refusal, so it needs QA forget "
                "data: set data.train_on=qa (raw-text forget corpora have no question)."
            )
        self.beta = beta
        self.idk_answers = answers
        self.forget_weight = forget_weight
        self.choice = refusal_choice(n_forget, len(answers), seed)
        self.forget_alternates = forget_alternates

    def refusals(self, index: Sequence[int]) -> list[str]:
        """The refusal of each forget example of a batch."""
        return [self.idk_answers[self.choice[i]] for i in index]

    def loss(
        self, ctx: MethodContext, forget: Batch, retain: Batch | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """DPO of the refusals (preferred) against the forget answers of this batch."""
        if ctx.reference is None:
            raise RuntimeError("method=idkdpo needs the frozen reference model; none was loaded")
        index = forget["index"].tolist()
        idk = self.forget_alternates(index, self.refusals(index))
        idk = {k: v.to(ctx.device) for k, v in idk.items()}
        lose_logits = ctx.forward_batch(ctx.policy, forget).logits
        win_logits = ctx.forward_batch(ctx.policy, idk).logits
        with torch.no_grad():
            lose_ref = sequence_logprob(
                ctx.forward_batch(ctx.reference, forget).logits, forget["labels"]
            )
            win_ref = sequence_logprob(ctx.forward_batch(ctx.reference, idk).logits, idk["labels"])
        loss = dpo_loss(
            sequence_logprob(win_logits, idk["labels"]),
            win_ref,
            sequence_logprob(lose_logits, forget["labels"]),
            lose_ref,
            self.beta,
        )
        logs = {
            "forget_nll": mean_nll(lose_logits.detach(), forget["labels"]),
            "idk_nll": mean_nll(win_logits.detach(), idk["labels"]),
        }
        return loss, logs
