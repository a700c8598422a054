"""TOFU's metrics: probability, truth ratio, forget quality and model utility.

TOFU (Maini et al., arXiv 2401.06121; code github.com/locuslab/tofu, and open-unlearning's
``src/evals/metrics/{memorization,utility,utils}.py``) scores every answer by its
length-normalised probability under the model, from the token-mean NLL ``L(a | q)`` of the
answer tokens (what :func:`unpact_exp.methods.token_logprobs.mean_nll` gives for one item)::

    P(a | q) = exp(-L(a | q)) = p(a | q)^(1 / |a|)

**Probability.** On the forget and retain sets: the mean of ``P(answer | q)``. On real authors and
world facts (which have perturbed answers): the mean of ``P(a) / (P(a) + sum_j P(a_j))``, the
gold answer against its ``j = 1..m`` perturbed (wrong) answers.

**Truth ratio.** Per question, the perturbed answers' probability against the paraphrased
(correct, reworded) answer's::

    R = P_pert / P(a_para),   P_pert = exp(-(1/m) sum_j L(a_j))      (geometric mean)
                           or P_pert = (1/m) sum_j P(a_j)             (arithmetic mean)

open-unlearning uses the geometric mean everywhere, and so does TOFU's code for forget quality;
TOFU's paper (eq. 1) and its code for model utility use the arithmetic mean
(``truth_ratio(..., mean=...)``). The reported score on the forget set is ``mean min(R, 1/R)``
(1 when correct and wrong answers are equally likely), elsewhere ``mean max(0, 1 - R)`` (high
when the correct answer is much likelier).

**Forget quality.** The p-value of the two-sample Kolmogorov-Smirnov test between the forget-set
truth ratios ``R`` of the unlearned model and of the retain model (trained without the forget
set), ``scipy.stats.ks_2samp``. High means "indistinguishable from never having learned it".
TOFU and open-unlearning pass ``1/R`` to the test; the KS statistic only depends on the order of
the values, so the p-value is the same (tested).

**Model utility.** The harmonic mean of nine numbers: probability, ROUGE-L recall and truth-ratio
score on each of retain, real authors and world facts (``scipy.stats.hmean``; 0 when any is 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from unpact_exp.errors import UnpactConfigError

TRUTH_RATIO_MEANS = ("geometric", "arithmetic")
UTILITY_PARTS = 9


def _floats(values: Sequence[float]) -> list[float]:
    return [float(v) for v in values]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def answer_probability(avg_loss: float) -> float:
    """``exp(-L)``: the length-normalised probability of an answer from its token-mean NLL."""
    return math.exp(-float(avg_loss))


def probability_score(avg_losses: Sequence[float]) -> float:
    """Mean normalised probability of the gold answers (forget / retain sets)."""
    return _mean([answer_probability(v) for v in _floats(avg_losses)])


def probability_with_options(
    avg_losses: Sequence[float], perturbed_losses: Sequence[Sequence[float]]
) -> float:
    """Mean of ``P(a) / (P(a) + sum_j P(a_j))`` over items (real authors, world facts).

    Args:
        avg_losses: per item, the gold answer's token-mean NLL.
        perturbed_losses: per item, the token-mean NLL of each perturbed answer.
    """
    if len(avg_losses) != len(perturbed_losses):
        raise ValueError(f"{len(avg_losses)} gold losses for {len(perturbed_losses)} items")
    shares = []
    for gold, wrong in zip(_floats(avg_losses), perturbed_losses):
        p = answer_probability(gold)
        shares.append(p / (p + sum(answer_probability(w) for w in wrong)))
    return _mean(shares)


def truth_ratio(paraphrased_loss: float, perturbed_losses: Sequence[float], mean: str) -> float:
    """``R = P_pert / P(a_para)`` of one question (see the module docstring for ``mean``)."""
    if mean not in TRUTH_RATIO_MEANS:
        raise UnpactConfigError(
            f"truth-ratio mean={mean!r} is not one of {list(TRUTH_RATIO_MEANS)} (geometric: "
            "open-unlearning and TOFU's forget quality; arithmetic: TOFU's paper and utility)."
        )
    wrong = _floats(perturbed_losses)
    if not wrong:
        raise ValueError("a truth ratio needs at least one perturbed answer")
    if mean == "geometric":
        pert = math.exp(-_mean(wrong))
    else:
        pert = _mean([answer_probability(w) for w in wrong])
    return pert / answer_probability(paraphrased_loss)


def truth_ratio_score(ratios: Sequence[float], forget: bool) -> float:
    """The reported truth-ratio number: ``mean min(R, 1/R)`` (forget) or ``mean max(0, 1 - R)``."""
    values = _floats(ratios)
    if forget:
        return _mean([min(r, 1.0 / r) for r in values])
    return _mean([max(0.0, 1.0 - r) for r in values])


def forget_quality(unlearned_ratios: Sequence[float], retain_ratios: Sequence[float]) -> float:
    """KS-test p-value between the forget-set truth ratios of the unlearned and retain models."""
    from scipy.stats import ks_2samp

    ours, theirs = _floats(unlearned_ratios), _floats(retain_ratios)
    if not ours or not theirs:
        return float("nan")
    return float(ks_2samp(ours, theirs).pvalue)


def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of the nine utility numbers (0 when any of them is 0).

    Args:
        values: probability, ROUGE-L recall and truth-ratio score on retain, real authors and
            world facts (any order), each in [0, 1].
    """
    numbers = _floats(values)
    if len(numbers) != UTILITY_PARTS:
        raise ValueError(
            f"model utility is the harmonic mean of {UTILITY_PARTS} numbers (probability, "
            f"ROUGE, truth ratio x retain, real authors, world facts); got {len(numbers)}"
        )
    if any(v < 0 for v in numbers):
        raise ValueError(f"utility parts must be >= 0; got {numbers}")
    if any(v == 0 for v in numbers):
        return 0.0
    from scipy.stats import hmean

    return float(hmean(numbers))
