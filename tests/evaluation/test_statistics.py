"""Wilson intervals, the exact McNemar test and paired differences (docs/science.md §10),
worked by hand."""

from __future__ import annotations

import math

import pytest

from unpact_exp.evaluation.statistics import (
    Z_95,
    discordant_pairs,
    mcnemar_exact_p,
    paired_difference,
    paired_table,
    rate_entry,
    wilson_interval,
)


def old_wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The hand-written interval these functions computed before scipy did."""
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def old_mcnemar(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n)


def test_scipy_equals_the_old_formulas() -> None:
    for n in range(1, 61):
        for k in range(n + 1):
            new, old = wilson_interval(k, n), old_wilson(k, n)
            assert abs(new[0] - old[0]) < 1e-12 and abs(new[1] - old[1]) < 1e-12, (k, n)
    for b in range(40):
        for c in range(40):
            assert abs(mcnemar_exact_p(b, c) - old_mcnemar(b, c)) < 1e-12, (b, c)
    # Another level through z: the 90% interval.
    z90 = 1.6448536269514722
    assert wilson_interval(3, 7, z90) == pytest.approx(old_wilson(3, 7, z90), abs=1e-12)


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


def test_paired_difference_worked_example():
    # The docstring's example: a=10, b=4, c=1, d=5, phi = 36/91.192105 = 0.394771.
    theta, (low, high) = paired_difference(10, 4, 1, 5)
    assert theta == pytest.approx(0.15)
    assert low == pytest.approx(-0.077105, abs=1e-6)
    assert high == pytest.approx(0.354303, abs=1e-6)


def test_paired_difference_textbook_value():
    # Fagerland, Lydersen & Laake, "Statistical Analysis of Contingency Tables" (2017),
    # ch. 8, complete response before/after consolidation therapy (Cavo et al. 2012),
    # a=59, b=6, c=16, d=80: Newcombe square-and-add -0.0621 (95% CI -0.1186 to -0.0046).
    theta, (low, high) = paired_difference(59, 6, 16, 80)
    assert (round(theta, 4), round(low, 4), round(high, 4)) == (-0.0621, -0.1186, -0.0046)


def test_paired_difference_phi_branches_and_edges():
    # 0 <= ad - bc <= n/2: phi = 0, the two Wilson half-widths added in squares.
    # a=3, b=4, c=1, d=2: ad - bc = 2 <= 5. p1 = 0.7, p2 = 0.4.
    theta, (low, high) = paired_difference(3, 4, 1, 2)
    l1, u1 = old_wilson(7, 10)
    l2, u2 = old_wilson(4, 10)
    assert theta == pytest.approx(0.3)
    assert low == pytest.approx(0.3 - math.hypot(0.7 - l1, u2 - 0.4))
    assert high == pytest.approx(0.3 + math.hypot(u1 - 0.7, 0.4 - l2))
    # ad - bc < 0: phi < 0 widens both sides beyond the phi = 0 interval.
    # a=1, b=4, c=3, d=1 (n = 9): ad - bc = -11, theta = 1/9.
    theta, (low, high) = paired_difference(1, 4, 3, 1)
    l1, u1 = old_wilson(5, 9)
    l2, u2 = old_wilson(4, 9)
    assert theta == pytest.approx(1 / 9)
    assert low < theta - math.hypot(5 / 9 - l1, u2 - 4 / 9)
    assert high > theta + math.hypot(u1 - 5 / 9, 4 / 9 - l2)
    # Identical outcomes on every item: theta = 0, an interval around it; empty margin -> phi 0.
    assert paired_difference(5, 0, 0, 0)[0] == 0.0
    theta, (low, high) = paired_difference(0, 0, 0, 7)
    assert theta == 0.0 and low < 0 < high
    assert paired_difference(0, 0, 0, 0) is None
    with pytest.raises(ValueError, match="b=-1"):
        paired_difference(1, -1, 0, 0)


def test_paired_difference_contains_the_estimate():
    for a, b, c, d in [(0, 9, 0, 1), (0, 0, 9, 1), (2, 3, 4, 5), (20, 0, 1, 0), (0, 10, 0, 0)]:
        theta, (low, high) = paired_difference(a, b, c, d)
        assert -1.0 <= low <= theta <= high <= 1.0


def test_paired_table():
    first = [True, True, False, False, True]
    second = [True, False, True, False, True]
    assert paired_table(first, second) == (2, 1, 1, 1)
    with pytest.raises(ValueError, match="one entry per item"):
        paired_table([True], [])
