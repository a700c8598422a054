"""The rates of docs/science.md §5, as pure functions over per-question boolean tables.

Each rate is a fraction over a subset (known questions, forgotten questions, utility
items M0 gets right). When that subset is empty the rate is undefined and we return
``float('nan')`` rather than 0.0: "M1 forgot 0% of nothing" must not read as "M1
forgot nothing", and NaN propagates visibly into logs and sweeps instead of
silently scoring well.

Each rate has a ``*_counts`` twin returning ``(k, n)``, the numerator and denominator, which
``results.json`` keeps beside the rate together with a Wilson interval
(:mod:`unpact_exp.evaluation.statistics`, docs/science.md §10).
"""

from __future__ import annotations

from collections.abc import Sequence

NAN = float("nan")


def _check_lengths(**tables: Sequence[object]) -> None:
    lengths = {name: len(table) for name, table in tables.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"boolean tables must have one entry per question; got {lengths}.")


def _fraction(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else NAN


def known(m0_correct: Sequence[bool]) -> list[bool]:
    """``known``: the forget-set questions M0 answers correctly (a mask)."""
    return [bool(c) for c in m0_correct]


def forgotten(m0_correct: Sequence[bool], m1_correct: Sequence[bool]) -> list[bool]:
    """``F``: questions M0 knows and M1 now answers incorrectly (a mask)."""
    _check_lengths(m0_correct=m0_correct, m1_correct=m1_correct)
    return [bool(a) and not b for a, b in zip(m0_correct, m1_correct)]


def forget_counts(m0_correct: Sequence[bool], m1_correct: Sequence[bool]) -> tuple[int, int]:
    """``(|F|, |known|)``, the counts of :func:`forget_rate`."""
    return sum(forgotten(m0_correct, m1_correct)), sum(known(m0_correct))


def forget_rate(m0_correct: Sequence[bool], m1_correct: Sequence[bool]) -> float:
    """``|F| / |known|``; NaN when M0 knows none of the questions."""
    return _fraction(*forget_counts(m0_correct, m1_correct))


def recovery_counts(forgotten_mask: Sequence[bool], recovered: Sequence[bool]) -> tuple[int, int]:
    """``(|recovered ∩ F|, |F|)``, the counts of :func:`recovery_rate`."""
    _check_lengths(forgotten=forgotten_mask, recovered=recovered)
    hits = sum(bool(f) and bool(r) for f, r in zip(forgotten_mask, recovered))
    return hits, sum(bool(f) for f in forgotten_mask)


def recovery_rate(forgotten_mask: Sequence[bool], recovered: Sequence[bool]) -> float:
    """``|recovered| / |F|`` (FocusOnKey); only recoveries of forgotten questions count.

    NaN when nothing was forgotten.
    """
    return _fraction(*recovery_counts(forgotten_mask, recovered))


def probab_recovery_rate(forgotten_mask: Sequence[bool], recovered: Sequence[bool]) -> float:
    """``|recovered by sampling| / |F|`` (PROBAB); the formula of :func:`recovery_rate`."""
    return recovery_rate(forgotten_mask, recovered)


def destructive_counts(m0_correct: Sequence[bool], m1_correct: Sequence[bool]) -> tuple[int, int]:
    """``(items of U M1 gets wrong, |U|)``, the counts of :func:`destructive_rate`."""
    return forget_counts(m0_correct, m1_correct)


def destructive_rate(m0_correct: Sequence[bool], m1_correct: Sequence[bool]) -> float:
    """Over the utility items M0 answers correctly (U), the fraction M1 gets wrong.

    NaN when U is empty.
    """
    return _fraction(*destructive_counts(m0_correct, m1_correct))


def correct_counts(correct: Sequence[bool]) -> tuple[int, int]:
    """``(correct answers, items)``, the counts of :func:`correct_rate`."""
    return sum(bool(c) for c in correct), len(correct)


def correct_rate(correct: Sequence[bool]) -> float:
    """Fraction of correct answers (utility of a model); NaN when there are no items."""
    return _fraction(*correct_counts(correct))


def is_ignored(contributions: Sequence[float], ignore_eps: float) -> bool:
    """``max_i |C_i| < ignore_eps``; a prompt with no units counts as ignored.

    Zero units means nothing in the question can influence the answer, which is the
    same observable as a model that ignores the question.
    """
    return not contributions or max(abs(c) for c in contributions) < ignore_eps


def prompt_ignorance_counts(
    contributions: Sequence[Sequence[float]], ignore_eps: float
) -> tuple[int, int]:
    """``(ignored prompts, prompts)``, the counts of :func:`prompt_ignorance`."""
    return sum(is_ignored(c, ignore_eps) for c in contributions), len(contributions)


def prompt_ignorance(contributions: Sequence[Sequence[float]], ignore_eps: float) -> float:
    """Fraction of prompts the model ignores (see :func:`is_ignored`); NaN with no prompts."""
    return _fraction(*prompt_ignorance_counts(contributions, ignore_eps))
