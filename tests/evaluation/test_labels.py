"""Known, forgotten and unstable from several asks, worked by hand (docs/science.md §13)."""

from __future__ import annotations

import random

import pytest

from unpact_exp.attacks.focus_on_random import random_units
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.comparisons import bootstrap_difference
from unpact_exp.evaluation.config import LabelSettings
from unpact_exp.evaluation.labels import forgotten, original_labels

ASKS = [
    [True, True, True],  # known
    [True, False, True],  # unstable under "all", known under "majority"
    [False, True, False],  # unstable under both
    [False, False, False],  # never known
    [True, True, True],  # gold in the question: flagged, out of every label
]
FLAGS = [False, False, False, False, True]


def test_all_needs_every_ask_and_flags_leave_items_out():
    labels = original_labels(ASKS, "all", FLAGS)
    assert labels.known == [True, False, False, False, False]
    assert labels.unstable == [False, True, True, False, False]
    assert labels.never_known == [False, False, False, True, False]
    assert labels.flagged == FLAGS


def test_majority_takes_two_of_three():
    labels = original_labels(ASKS, "majority", FLAGS)
    assert labels.known == [True, True, False, False, False]
    assert labels.unstable == [False, False, True, False, False]


def test_one_ask_is_the_plain_answer():
    labels = original_labels([[True], [False]], "all", [False, False])
    assert labels.known == [True, False] and labels.never_known == [False, True]
    assert labels.unstable == [False, False]


def test_forgotten_needs_m1_wrong_on_every_ask():
    known = [True, True, True, False]
    m1 = [[False, False, False], [False, True, False], [True, True, True], [False, False, False]]
    assert forgotten(known, m1) == [True, False, False, False]


def test_label_settings_refuse_too_few_rewordings_and_split_the_rest():
    with pytest.raises(UnpactConfigError, match="needs 2 neutral rewordings"):
        LabelSettings(asks=3, known="all", neutral_templates=("{question} A.",))
    with pytest.raises(UnpactConfigError, match="has no"):
        LabelSettings(asks=1, known="all", neutral_templates=("no placeholder",))
    settings = LabelSettings(3, "all", ("a {question}", "b {question}", "c {question}"))
    assert settings.label_templates() == ("a {question}", "b {question}")
    assert settings.spare_templates() == ("c {question}",)


def test_random_units_avoid_keytokens_and_match_their_number():
    units = ["Where", "was", "Alice", "Smith", "born", "?"]
    rng = random.Random(0)
    for _ in range(20):
        picked = random_units(units, [2, 3], rng)
        assert picked is not None and len(picked) == 2
        assert not {2, 3} & set(picked) and 5 not in picked  # "?" holds no letter
    assert random_units(units, [], rng) is None
    assert random_units(["Alice", "?"], [0], rng) is None


def test_bootstrap_difference_of_constant_differences_is_exact():
    assert bootstrap_difference([1.0, 1.0], [0.0, 0.0]) == (1.0, (1.0, 1.0))
    diff, (low, high) = bootstrap_difference([1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1 / 3, 1.0])
    assert diff == pytest.approx((1 - 0 + 2 / 3 - 1) / 4)
    assert low <= diff <= high
    assert bootstrap_difference([], []) is None
