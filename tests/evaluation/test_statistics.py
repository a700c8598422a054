"""Wilson intervals and the exact McNemar test (docs/science.md §10), worked by hand."""

from __future__ import annotations

import math

import pytest

from unpact_exp.evaluation.statistics import (
    Z_95,
    discordant_pairs,
    mcnemar_exact_p,
    rate_entry,
    wilson_interval,
)


def test_wilson_at_k_zero_and_k_n():
    # k = 0, n = 10: low = 0, high = z² / (n + z²) = 3.841459 / 13.841459 = 0.277533.
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(Z_95**2 / (10 + Z_95**2)) == pytest.approx(0.277533, abs=1e-6)
    # k = n = 10: the mirror image, low = n / (n + z²) = 0.722467, high = 1.
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(0.722467, abs=1e-6) and high == 1.0


def test_wilson_textbook_value():
    # Newcombe (1998), Stat. Med. 17:857, example 81/263: Wilson 95% CI 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_wilson_hand_worked_middle():
    # k = 5, n = 10, z² = 3.841459: centre = (5 + 1.920729) / 13.841459 = 0.5,
    # half = 1.959964 * sqrt(2.5 + 0.960365) / 13.841459 = 3.645935 / 13.841459 = 0.263407.
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.5 - 0.263407, abs=1e-6)
    assert high == pytest.approx(0.5 + 0.263407, abs=1e-6)


def test_wilson_empty_and_invalid():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="k=3, n=2"):
        wilson_interval(3, 2)
    with pytest.raises(ValueError, match="k=-1"):
        wilson_interval(-1, 2)


def test_mcnemar_exact_worked_case():
    # b = 1, c = 6: n = 7, P(X <= 1) = (C(7,0) + C(7,1)) / 2^7 = 8/128; two-sided: 16/128.
    assert mcnemar_exact_p(1, 6) == 0.125
    assert mcnemar_exact_p(6, 1) == 0.125  # symmetric
    # b = 0, c = 5: 2 * 1/32.
    assert mcnemar_exact_p(0, 5) == 0.0625
    # b = 2, c = 9: 2 * (1 + 11 + 55) / 2048 = 134/2048.
    assert mcnemar_exact_p(2, 9) == pytest.approx(134 / 2048)


def test_mcnemar_no_evidence_is_one():
    assert mcnemar_exact_p(0, 0) == 1.0  # no discordant pair
    assert mcnemar_exact_p(3, 3) == 1.0  # 2 * P(X <= 3 | n=6) = 2 * 42/64 > 1: clamped
    with pytest.raises(ValueError, match="b=-1"):
        mcnemar_exact_p(-1, 2)


def test_mcnemar_large_counts_stay_finite():
    p = mcnemar_exact_p(600, 700)
    assert 0.0 < p < 0.01 and math.isfinite(p)


def test_discordant_pairs_only_over_the_mask():
    focus = [True, True, False, False, True]
    probab = [True, False, True, False, False]
    mask = [True, True, True, True, False]  # item 4 was not forgotten: not a pair
    assert discordant_pairs(focus, probab, mask) == (1, 1)
    with pytest.raises(ValueError, match="one entry per item"):
        discordant_pairs([True], [True, False], [True])


def test_rate_entry_keys_and_empty_denominator():
    entry = rate_entry("recovery_rate", 0, 10)
    assert entry["recovery_rate"] == 0.0
    assert entry["recovery_rate_counts"] == [0, 10]
    assert entry["recovery_rate_ci"] == [0.0, pytest.approx(0.277533, abs=1e-6)]
    empty = rate_entry("recovery_rate", 0, 0)
    assert math.isnan(empty["recovery_rate"])
    assert empty["recovery_rate_counts"] == [0, 0] and empty["recovery_rate_ci"] is None
