"""Rates of docs/science.md §5 on hand-made boolean tables."""

import math

import pytest

from unpact_exp.evaluation import rates

M0 = [True, True, True, False, True]
M1 = [True, False, False, False, True]  # forgets items 1 and 2


def test_known_and_forgotten():
    assert rates.known(M0) == M0
    assert rates.forgotten(M0, M1) == [False, True, True, False, False]


def test_forget_rate():
    assert rates.forget_rate(M0, M1) == pytest.approx(2 / 4)
    assert rates.forget_rate(M0, M0) == 0.0


def test_recovery_counts_only_forgotten_items():
    forgotten = rates.forgotten(M0, M1)
    recovered = [False, True, False, True, True]  # items 3 and 4 were never forgotten
    assert rates.recovery_rate(forgotten, recovered) == pytest.approx(1 / 2)
    assert rates.probab_recovery_rate(forgotten, [False, True, True, False, False]) == 1.0


def test_destructive_rate_is_over_items_m0_answers():
    # U = {0, 1, 3}; M1 gets 1 and 3 wrong; item 2 (M0 wrong) does not count.
    assert rates.destructive_rate([True, True, False, True], [True, False, True, False]) == (
        pytest.approx(2 / 3)
    )


def test_correct_rate():
    assert rates.correct_rate([True, False, True, True]) == 0.75


def test_prompt_ignorance():
    contributions = [[0.01, -0.02], [0.1], [], [-0.06, 0.0]]
    # ignored: max|C| = 0.02 < 0.05, and the prompt with no units.
    assert rates.prompt_ignorance(contributions, 0.05) == 0.5
    assert rates.is_ignored([], 0.05)
    assert not rates.is_ignored([-0.06], 0.05)


def test_empty_denominators_are_nan():
    assert math.isnan(rates.forget_rate([False, False], [False, False]))
    assert math.isnan(rates.forget_rate([], []))
    assert math.isnan(rates.recovery_rate([False], [True]))
    assert math.isnan(rates.destructive_rate([False], [False]))
    assert math.isnan(rates.correct_rate([]))
    assert math.isnan(rates.prompt_ignorance([], 0.05))


def test_tables_must_align():
    with pytest.raises(ValueError, match="one entry per question"):
        rates.forget_rate([True], [True, False])


def test_counts_are_the_numerators_and_denominators():
    forgotten = rates.forgotten(M0, M1)
    assert rates.forget_counts(M0, M1) == (2, 4)
    assert rates.recovery_counts(forgotten, [False, True, False, True, True]) == (1, 2)
    assert rates.destructive_counts([True, True, False, True], [True, False, True, False]) == (
        2,
        3,
    )
    assert rates.correct_counts([True, False, True, True]) == (3, 4)
    assert rates.prompt_ignorance_counts([[0.01], [0.1], []], 0.05) == (2, 3)
    assert rates.forget_counts([], []) == (0, 0)
