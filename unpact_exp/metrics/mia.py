"""Membership-inference scores, their forget-vs-holdout AUC, and MUSE's PrivLeak from any of them.

The six attacks open-unlearning reports (``src/evals/metrics/mia/`` of locuslab/open-unlearning),
each a *non-membership* score of one text: higher means "less likely seen in training". Every
score is computed from the log-probabilities ``l_1 .. l_n`` of the text's scored tokens (the
answer tokens of a QA item, every token after the first of a raw text)::

    LOSS       s = -(1/n) sum_t l_t                                (the token-mean NLL)
    ZLib       s = LOSS / len(zlib.compress(text.encode("utf-8")))  (Carlini et al. 2021)
    Reference  s = LOSS(model) - LOSS(reference model)              (same tokens, two models)
    Min-K%     s = -(mean of the floor(k * n) lowest l_t)           (Shi et al., arXiv 2310.16789)
    Min-K%++   s = -(mean of the floor(k * n) lowest z_t),          (Zhang et al., arXiv 2404.02936)
               z_t = (l_t - mu_t) / sigma_t over the model's own next-token distribution
    GradNorm   s = (1/P) sum_p ||d LOSS / d theta_p||_q              (one norm per parameter tensor)

Min-K% and Min-K%++ share :func:`token_statistics` and :func:`lowest_k_mean` with MUSE's PrivLeak
(:mod:`unpact_exp.metrics.privleak`, which imports them from here), so a text shorter than ``1/k``
tokens uses its lowest one, as there.

The attack's AUC separates the forget texts (label 0) from the holdout texts (label 1) by the
score, as open-unlearning's ``mia_auc`` (``sklearn.metrics.roc_auc_score``)::

    auc = P(s(holdout) > s(forget)) + 0.5 * P(s(holdout) == s(forget))

It is 1 when the model still recognises every forget text and 0.5 when it cannot tell them from
unseen text. MUSE writes the same AUC with the sign of the score flipped (its Min-K% is the
*membership* score, the mean log-probability), so MUSE's AUC is ``1 - auc`` and its PrivLeak is::

    privleak = ((1 - auc) - (1 - auc_retrain)) / (1 - auc_retrain) * 100

(open-unlearning's ``privleak`` does exactly this conversion). :func:`privleak` computes it from
any attack's AUC; for Min-K% it equals :func:`relative_privleak` of PrivLeak's ``privleak_auc``
(tested).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence

import torch

from unpact_exp.config import checks
from unpact_exp.errors import UnpactConfigError

GRADNORM_P = (1.0, 2.0, float("inf"))
SCORES = ("min_k", "min_k_plus_plus")


def token_statistics(logits: torch.Tensor, targets: torch.Tensor, score: str) -> torch.Tensor:
    """Per-position membership statistic of ``targets`` under ``logits``.

    Args:
        logits: ``[..., T, V]`` next-token logits (position t predicts ``targets[..., t]``).
        targets: ``[..., T]`` the token ids actually there.
        score: ``min_k`` (the log-prob itself) or ``min_k_plus_plus`` (standardised by the
            model's own next-token distribution, see the module docstring).

    Returns:
        ``[..., T]`` float32 statistics; lower means "less likely a member".
    """
    if score not in SCORES:
        raise UnpactConfigError(f"metrics.privleak.score={score!r} is not one of {list(SCORES)}.")
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    token = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if score == "min_k":
        return token
    probs = log_probs.exp()
    mu = (probs * log_probs).sum(-1)
    sigma = ((probs * log_probs.square()).sum(-1) - mu.square()).sqrt()
    return (token - mu) / sigma


def lowest_k_mean(values: Sequence[float], k: float) -> float:
    """Mean of the ``floor(k * n)`` lowest values (at least one), as MUSE's ``Min-K%``.

    MUSE takes ``int(len * k)`` values; a text of fewer than ``1 / k`` scored tokens would give
    it an empty mean (NaN), so here the lowest single value is used instead.
    """
    if not values:
        return float("nan")
    count = max(1, int(len(values) * k))
    lowest = sorted(values)[:count]
    return sum(lowest) / count


def relative_privleak(auc: float, retrain_auc: float) -> float:
    """MUSE's PrivLeak: ``(auc - retrain_auc) / retrain_auc * 100``."""
    return (auc - retrain_auc) / retrain_auc * 100.0


def _as_list(values: Sequence[float] | torch.Tensor) -> list[float]:
    if isinstance(values, torch.Tensor):
        return [float(v) for v in values.detach().float().flatten().cpu()]
    return [float(v) for v in values]


def _check_k(k: float) -> None:
    checks.unit_interval("k", k)  # Min-K%: the fraction of tokens, e.g. 0.4 for 40%


def loss_score(token_logprobs: Sequence[float] | torch.Tensor) -> float:
    """LOSS attack: the token-mean negative log-likelihood ``-(1/n) sum_t l_t`` (NaN if empty)."""
    values = _as_list(token_logprobs)
    if not values:
        return float("nan")
    return -sum(values) / len(values)


def zlib_entropy(text: str) -> int:
    """Bytes of the zlib-compressed UTF-8 text (Python's default compression level 6)."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(token_logprobs: Sequence[float] | torch.Tensor, text: str) -> float:
    """ZLib attack: LOSS divided by the compressed length of ``text`` (the scored text itself).

    open-unlearning decodes the scored tokens (``skip_special_tokens=True``) to get ``text``;
    the caller passes that string.
    """
    return loss_score(token_logprobs) / zlib_entropy(text)


def reference_score(
    token_logprobs: Sequence[float] | torch.Tensor,
    reference_logprobs: Sequence[float] | torch.Tensor,
) -> float:
    """Reference attack: LOSS under the model minus LOSS under a reference model, same tokens."""
    ours, theirs = _as_list(token_logprobs), _as_list(reference_logprobs)
    if len(ours) != len(theirs):
        raise ValueError(
            f"the reference scored {len(theirs)} tokens, the model {len(ours)}: "
            "both must score the same tokens of the same text"
        )
    return loss_score(ours) - loss_score(theirs)


def min_k_score(token_logprobs: Sequence[float] | torch.Tensor, k: float) -> float:
    """Min-K%: minus the mean of the ``floor(k * n)`` lowest token log-probs (at least one)."""
    _check_k(k)
    return -lowest_k_mean(_as_list(token_logprobs), k)


def min_k_plus_plus_score(logits: torch.Tensor, targets: torch.Tensor, k: float) -> float:
    """Min-K%++: minus the mean of the lowest ``floor(k * n)`` standardised log-probs.

    Args:
        logits: ``[n, V]`` next-token logits at the scored positions (row t predicts
            ``targets[t]``).
        targets: ``[n]`` the scored token ids.
        k: the fraction of tokens averaged.
    """
    _check_k(k)
    z = token_statistics(logits, targets, "min_k_plus_plus")
    return -lowest_k_mean(_as_list(z), k)


def gradnorm_score(gradients: Iterable[torch.Tensor | None], p: float) -> float:
    """GradNorm: the mean over parameter tensors of the ``p``-norm of each one's gradient.

    Tensors without a gradient (frozen parameters) are skipped, as open-unlearning does.

    Args:
        gradients: the ``.grad`` of every parameter after backpropagating one text's LOSS.
        p: 1, 2 or inf.
    """
    if float(p) not in GRADNORM_P:
        raise UnpactConfigError(f"GradNorm p={p!r} must be one of 1, 2 or inf.")
    norms = [g.detach().float().norm(p=float(p)) for g in gradients if g is not None]
    if not norms:
        raise ValueError("no parameter has a gradient: backpropagate the text's loss first")
    return float(torch.stack(norms).mean())


def mia_auc(forget_scores: Sequence[float], holdout_scores: Sequence[float]) -> float:
    """ROC AUC of the score with holdout texts as the positives (label 1), forget texts label 0.

    ``sklearn.metrics.roc_auc_score``; ties count one half (the Mann-Whitney form
    ``P(s_h > s_f) + 0.5 * P(s_h == s_f)``). PrivLeak's ``rank_auc`` is this function. A text
    without a score (NaN: it has no scored token) is left out, where sklearn would refuse the
    whole set. NaN when a side is empty.
    """
    from sklearn.metrics import roc_auc_score

    forget = [v for v in _as_list(forget_scores) if not math.isnan(v)]
    holdout = [v for v in _as_list(holdout_scores) if not math.isnan(v)]
    if not forget or not holdout:
        return float("nan")
    labels = [0] * len(forget) + [1] * len(holdout)
    return float(roc_auc_score(labels, forget + holdout))


def privleak(auc: float, retrain_auc: float) -> float:
    """MUSE's PrivLeak from an attack's AUC (this module's convention) and the retrain model's.

    ``((1 - auc) - (1 - retrain_auc)) / (1 - retrain_auc) * 100``: MUSE's relative score on
    MUSE's AUC, which is ``1 - auc``.
    """
    return relative_privleak(1.0 - auc, 1.0 - retrain_auc)


def text_gradnorm(model: torch.nn.Module, batch: dict[str, torch.Tensor], p: float) -> float:
    """GradNorm of one text: backpropagate its LOSS through ``model``, then clear the gradients.

    Every parameter takes part, trainable or not (open-unlearning scores a fully trainable
    model; an evaluated copy may come frozen), and the ``requires_grad`` flags are put back.
    It leaves ``torch.inference_mode`` for the backward pass, so it also runs inside the
    evaluation's analysis mode. Memory: one gradient per parameter while the text is scored.

    Args:
        model: the causal LM (its gradients are zeroed before and after).
        batch: one sequence, ``input_ids``/``attention_mask``/``labels`` of shape ``[1, T]``
            (``-100`` where a position is not scored).
        p: the norm (1, 2 or inf).
    """
    from unpact_exp.methods.token_logprobs import mean_nll

    if batch["input_ids"].shape[0] != 1:
        raise ValueError("GradNorm scores one text at a time: pass a batch of one sequence")
    params = list(model.parameters())
    flags = [param.requires_grad for param in params]
    model.zero_grad(set_to_none=True)
    try:
        with torch.inference_mode(False), torch.enable_grad():
            for param in params:
                param.requires_grad_(True)
            inputs = {k: batch[k].clone() for k in ("input_ids", "attention_mask", "labels")}
            logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            mean_nll(logits.logits, inputs["labels"]).backward()
        score = gradnorm_score((param.grad for param in params), p)
    finally:
        model.zero_grad(set_to_none=True)
        for param, flag in zip(params, flags):
            param.requires_grad_(flag)
    return score
