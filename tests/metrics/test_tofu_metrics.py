"""TOFU's metrics (metrics/tofu.py) by hand, and against TOFU's / open-unlearning's formulas.

The peers' formulas are written out here in numpy, line for line from TOFU's
``get_model_utility`` / ``get_forget_quality`` (github.com/locuslab/tofu) and open-unlearning's
``truth_ratio`` / ``get_forget_quality`` (``src/evals/metrics/``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.tofu import (
    forget_quality,
    model_utility,
    probability_score,
    probability_with_options,
    truth_ratio,
    truth_ratio_score,
)

LN = math.log


def test_probability_is_the_mean_normalised_probability() -> None:
    """Losses ln 2 and ln 4: probabilities 1/2 and 1/4, mean 0.375."""
    assert probability_score([LN(2), LN(4)]) == pytest.approx(0.375)


def test_probability_with_options_normalises_against_the_wrong_answers() -> None:
    """Item 1: gold 1/2 against two wrong 1/4: 0.5 / (0.5 + 0.5) = 0.5.
    Item 2: gold 1 (loss 0) against one wrong 1/4: 1 / 1.25 = 0.8. Mean 0.65."""
    value = probability_with_options([LN(2), 0.0], [[LN(4), LN(4)], [LN(4)]])
    assert value == pytest.approx(0.65)


def test_truth_ratio_geometric_and_arithmetic() -> None:
    """Paraphrased loss ln 2 (P = 1/2); perturbed losses ln 2 and ln 8 (P = 1/2, 1/8).

    geometric: exp(-(ln 2 + ln 8)/2) = exp(-ln 4) = 1/4, R = (1/4)/(1/2) = 0.5;
    arithmetic: (1/2 + 1/8)/2 = 5/16, R = (5/16)/(1/2) = 0.625.
    """
    assert truth_ratio(LN(2), [LN(2), LN(8)], "geometric") == pytest.approx(0.5)
    assert truth_ratio(LN(2), [LN(2), LN(8)], "arithmetic") == pytest.approx(0.625)
    with pytest.raises(UnpactConfigError, match="mean='median'"):
        truth_ratio(LN(2), [LN(2)], "median")


def test_truth_ratio_equals_the_peers_formulas() -> None:
    """open-unlearning: exp(-mean(pert losses)) / (exp(-para loss) + 1e-10);
    TOFU's utility code: mean(exp(-pert losses)) / exp(-para loss)."""
    rng = np.random.default_rng(0)
    para, pert = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=(6, 5))
    open_unlearning = np.exp(-pert.mean(-1)) / (np.exp(-para) + 1e-10)
    tofu_utility = np.exp(-pert).mean(-1) / np.exp(-para)
    ours_geo = [truth_ratio(a, b, "geometric") for a, b in zip(para, pert)]
    ours_ari = [truth_ratio(a, b, "arithmetic") for a, b in zip(para, pert)]
    assert ours_geo == pytest.approx(open_unlearning.tolist(), rel=1e-8)
    assert ours_ari == pytest.approx(tofu_utility.tolist(), rel=1e-12)


def test_truth_ratio_score_on_forget_and_elsewhere() -> None:
    """R = (0.5, 2, 1). Forget: min(R, 1/R) = (0.5, 0.5, 1), mean 2/3.
    Elsewhere: max(0, 1 - R) = (0.5, 0, 0), mean 1/6."""
    assert truth_ratio_score([0.5, 2.0, 1.0], forget=True) == pytest.approx(2 / 3)
    assert truth_ratio_score([0.5, 2.0, 1.0], forget=False) == pytest.approx(1 / 6)


def test_forget_quality_is_the_exact_ks_p_value() -> None:
    """Samples (1, 2) and (3, 4) are fully separated: D = 1. Under the null every split of the 4
    pooled values into two pairs is equally likely, C(4, 2) = 6 splits, and 2 of them give
    D = 1 (all of one sample first): p = 2/6 = 1/3. With three each: 2 / C(6, 3) = 0.1.
    Identical samples: D = 0, p = 1."""
    assert forget_quality([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1 / 3)
    assert forget_quality([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(0.1)
    assert forget_quality([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)


def test_forget_quality_is_the_peers_ks_on_inverse_ratios() -> None:
    """TOFU and open-unlearning test 1/R (exp(pert - para)); KS depends only on the order."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    ours_r, retain_r = rng.uniform(0.2, 2.0, size=40), rng.uniform(0.4, 1.5, size=40)
    peer = ks_2samp(1 / (ours_r + 1e-10), 1 / (retain_r + 1e-10)).pvalue
    assert forget_quality(ours_r, retain_r) == pytest.approx(peer, rel=1e-9)


def test_model_utility_is_the_harmonic_mean_of_nine() -> None:
    """(1/2 x3, 1 x3, 1/4 x3): 9 / (3*2 + 3*1 + 3*4) = 9/21 = 0.428571. Any zero gives 0."""
    values = [0.5] * 3 + [1.0] * 3 + [0.25] * 3
    assert model_utility(values) == pytest.approx(9 / 21)
    assert model_utility([0.0, *values[1:]]) == 0.0
    with pytest.raises(ValueError, match="9 numbers"):
        model_utility(values[:8])
