"""Uncertainty of the rates (docs/science.md §10): Wilson, exact McNemar, paired differences.

The forgotten sets of a run are small (7-40 questions), where one question moves a rate by
several points, so every rate travels with its counts and a 95% Wilson score interval. The
Wilson interval (Wilson 1927; recommended by Brown, Cai & DasGupta 2001 and Newcombe 1998
over the normal "Wald" interval) keeps its coverage near 95% for small n and stays inside
[0, 1], including at k = 0 and k = n, where the Wald interval collapses to a point.

FocusOnKey and PROBAB (and the controls) are judged on the *same* forgotten questions, so
their comparison is paired: only the questions where exactly one of them recovers the
answer (the discordant pairs) carry information. McNemar's exact test asks whether those
split 50/50 under the null hypothesis that both attacks are equally good: a two-sided
binomial test with p = 1/2. The difference of the two rates gets Newcombe's hybrid score
interval for paired data (:func:`paired_difference`).

The Wilson interval and the binomial test are scipy's (``scipy.stats.binomtest``); the
formulas are written out in the docstrings so the numbers can be checked by hand. Pure
functions over integers, no torch.
"""

from __future__ import annotations

import math
from typing import Any

from scipy.stats import binomtest, norm

# The 0.975 quantile of the standard normal: docs/science.md §10 fixes the level at 95%.
Z_95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """95% Wilson score interval of the proportion ``k / n``; None when ``n == 0``.

    With ``p = k/n``::

        centre = (k + z²/2) / (n + z²)
        half   = z * sqrt(k (n - k) / n + z²/4) / (n + z²)
        [low, high] = [centre - half, centre + half]

    computed by ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")`` at the level
    ``2 * Phi(z) - 1``. At k = 0 the lower bound is exactly 0 and at k = n the upper bound
    exactly 1 (clamped against rounding).

    Args:
        k: successes, ``0 <= k <= n``.
        n: trials.
        z: the normal quantile of the level (the default is the 95% level of docs/science.md §10).

    Raises:
        ValueError: ``k`` or ``n`` negative, or ``k > n``.
    """
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"a proportion needs 0 <= k <= n; got k={k}, n={n}.")
    if n == 0:
        return None
    level = 0.95 if z == Z_95 else float(2 * norm.cdf(z) - 1)
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    low = 0.0 if k == 0 else max(0.0, float(ci.low))
    high = 1.0 if k == n else min(1.0, float(ci.high))
    return low, high


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null each discordant pair falls either way with probability 1/2, so::

        p = min(1, 2 * sum_{i=0}^{min(b, c)} C(b + c, i) / 2^(b + c))

    (``scipy.stats.binomtest(b, b + c, 0.5)``, two-sided), and p = 1 when there is no
    discordant pair (no evidence either way).

    Args:
        b: pairs where only the first attack succeeded (FocusOnKey recovered, PROBAB did not).
        c: pairs where only the second succeeded.

    Raises:
        ValueError: a negative count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0; got b={b}, c={c}.")
    if b + c == 0:
        return 1.0
    return min(1.0, float(binomtest(int(b), int(b + c), 0.5).pvalue))


def paired_difference(
    both: int, first_only: int, second_only: int, neither: int, z: float = Z_95
) -> tuple[float, tuple[float, float]] | None:
    """Difference of two proportions on the same items, with Newcombe's hybrid score interval.

    Newcombe (1998), "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Stat. Med. 17:2635-2650, method 10. With the paired
    table ``a`` (both succeed), ``b`` (first only), ``c`` (second only), ``d`` (neither),
    ``n = a + b + c + d``::

        p1 = (a + b) / n,  p2 = (a + c) / n,  theta = p1 - p2 = (b - c) / n
        [l1, u1], [l2, u2] = Wilson intervals of p1 and p2 (:func:`wilson_interval`)
        A   = a d - b c,   D = sqrt((a + b)(c + d)(a + c)(b + d))
        phi = (A - n/2) / D  if A > n/2;   0  if 0 <= A <= n/2;   A / D  if A < 0
              (0 when D = 0: a margin is empty)
        delta   = sqrt((p1 - l1)² - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)²)
        epsilon = sqrt((u1 - p1)² - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)²)
        [low, high] = [theta - delta, theta + epsilon]

    ``phi`` estimates the correlation of the two outcomes over the items (positive when
    the same questions tend to be recovered by both), with Newcombe's continuity correction
    of its numerator; a positive correlation narrows the interval, as pairing should.

    Worked example: a = 10, b = 4, c = 1, d = 5 (n = 20). p1 = 0.7, p2 = 0.55, theta = 0.15.
    Wilson: [l1, u1] = [0.481027, 0.854523], [l2, u2] = [0.342085, 0.741802].
    A = 50 - 4 = 46 > n/2 = 10; D = sqrt(14 * 6 * 11 * 9) = 91.192105;
    phi = 36 / 91.192105 = 0.394771.
    delta = sqrt(0.218973² - 2 * 0.394771 * 0.218973 * 0.191802 + 0.191802²) = 0.227105;
    epsilon = sqrt(0.154523² - 2 * 0.394771 * 0.154523 * 0.207915 + 0.207915²) = 0.204303;
    interval [0.15 - 0.227105, 0.15 + 0.204303] = [-0.077105, 0.354303].

    Args:
        both: items where both succeed (``a``).
        first_only: items where only the first succeeds (``b``).
        second_only: items where only the second succeeds (``c``).
        neither: items where neither succeeds (``d``).
        z: the normal quantile of the level (95% by default).

    Returns:
        ``(theta, (low, high))``, or None when there is no item (``n = 0``).

    Raises:
        ValueError: a negative count.
    """
    a, b, c, d = both, first_only, second_only, neither
    if min(a, b, c, d) < 0:
        raise ValueError(f"paired counts must be >= 0; got a={a}, b={b}, c={c}, d={d}.")
    n = a + b + c + d
    if n == 0:
        return None
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, z)  # type: ignore[misc]
    l2, u2 = wilson_interval(a + c, n, z)  # type: ignore[misc]
    phi = _corrected_phi(a, b, c, d)
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    eps = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    theta = (b - c) / n
    return theta, (max(-1.0, theta - delta), min(1.0, theta + eps))


def _corrected_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's continuity-corrected phi coefficient of the paired table (see above)."""
    n = a + b + c + d
    denominator = math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    if denominator == 0:
        return 0.0
    numerator = a * d - b * c
    if numerator > n / 2:
        return (numerator - n / 2) / denominator
    if numerator >= 0:
        return 0.0
    return numerator / denominator


def paired_table(first: list[bool], second: list[bool]) -> tuple[int, int, int, int]:
    """``(both, first_only, second_only, neither)`` over two per-item outcome lists.

    Raises:
        ValueError: the lists differ in length.
    """
    if len(first) != len(second):
        raise ValueError(f"one entry per item needed; got {len(first)} and {len(second)}.")
    pairs = [(bool(x), bool(y)) for x, y in zip(first, second)]
    return (
        sum(x and y for x, y in pairs),
        sum(x and not y for x, y in pairs),
        sum(y and not x for x, y in pairs),
        sum(not x and not y for x, y in pairs),
    )


def discordant_pairs(first: list[bool], second: list[bool], mask: list[bool]) -> tuple[int, int]:
    """``(b, c)`` over the masked items: ``first`` only, ``second`` only.

    Args:
        first: per item, whether the first attack succeeded (FocusOnKey).
        second: per item, whether the second succeeded (PROBAB).
        mask: which items are paired observations (the forgotten questions).

    Raises:
        ValueError: the three tables differ in length.
    """
    if not len(first) == len(second) == len(mask):
        raise ValueError(
            f"one entry per item needed; got {len(first)}, {len(second)}, {len(mask)}."
        )
    pairs = [(bool(a), bool(b)) for a, b, m in zip(first, second, mask) if m]
    return sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs)


def rate_entry(name: str, k: int, n: int) -> dict[str, Any]:
    """The three ``results.json`` keys of a rate: value, counts and Wilson interval.

    ``{name: k/n, name_counts: [k, n], name_ci: [low, high]}``; over ``n == 0`` the rate is
    NaN (written as null) and the interval None, while the counts ``[0, 0]`` stay, so a
    reader can tell "nothing to measure" from "measured zero".
    """
    interval = wilson_interval(k, n)
    return {
        name: k / n if n else float("nan"),
        f"{name}_counts": [k, n],
        f"{name}_ci": None if interval is None else list(interval),
    }
