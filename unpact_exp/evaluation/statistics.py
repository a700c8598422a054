"""Uncertainty of the rates (docs/science.md §10): Wilson intervals and the exact McNemar test.

The forgotten sets of a run are small (7-40 questions), where one question moves a rate by
several points, so every rate travels with its counts and a 95% Wilson score interval. The
Wilson interval (Wilson 1927; recommended by Brown, Cai & DasGupta 2001 and Newcombe 1998
over the normal "Wald" interval) keeps its coverage near 95% for small n and stays inside
[0, 1], including at k = 0 and k = n, where the Wald interval collapses to a point.

FocusOnKey and PROBAB are judged on the *same* forgotten questions, so their comparison is
paired: only the questions where exactly one of them recovers the answer (the discordant
pairs) carry information. McNemar's exact test asks whether those split 50/50 under the null
hypothesis that both attacks are equally good: a two-sided binomial test with p = 1/2.

Pure functions over integers, no torch: the numbers can be checked by hand.
"""

from __future__ import annotations

import math
from typing import Any

# The 0.975 quantile of the standard normal: docs/science.md §10 fixes the level at 95%.
Z_95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """95% Wilson score interval of the proportion ``k / n``; None when ``n == 0``.

    With ``p = k/n``::

        centre = (k + z²/2) / (n + z²)
        half   = z * sqrt(k (n - k) / n + z²/4) / (n + z²)
        [low, high] = [centre - half, centre + half]

    At k = 0 the lower bound is exactly 0 and at k = n the upper bound exactly 1 (clamped
    against rounding).

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
    z2 = z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact_p(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null each discordant pair falls either way with probability 1/2, so::

        p = min(1, 2 * sum_{i=0}^{min(b, c)} C(b + c, i) / 2^(b + c))

    and p = 1 when there is no discordant pair (no evidence either way).

    Args:
        b: pairs where only the first attack succeeded (FocusOnKey recovered, PROBAB did not).
        c: pairs where only the second succeeded.

    Raises:
        ValueError: a negative count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0; got b={b}, c={c}.")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)  # exact integers until the one division


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
