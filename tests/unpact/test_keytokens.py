"""KeyTokens rule of docs/science.md §3, case by case, and the similarity formulas."""

import math

import pytest

from unpact_exp.errors import UnpactConfigError
from unpact_exp.unpact.keytokens import (
    contribution_similarity,
    keytoken_similarity,
    keytokens,
)


def test_empty_positive_set_gives_empty_keytokens():
    assert keytokens([-0.5, 0.0, -1.0], 0.22, 0.24, "max") == []
    assert keytokens([], 0.22, 0.24, "max") == []


def test_few_positive_units_are_all_keytokens():
    # |P|/n = 2/10 = 0.2 < beta = 0.24: K = P, even the tiny 0.01.
    contributions = [0.01, 1.0] + [-1.0] * 8
    assert keytokens(contributions, 0.22, 0.24, "max") == [0, 1]


def test_many_positive_units_are_filtered_by_alpha():
    # |P|/n = 1 >= beta; N = C / max = [1, .5, .1, .3] > 0.22 -> {0, 1, 3}.
    assert keytokens([1.0, 0.5, 0.1, 0.3], 0.22, 0.24, "max") == [0, 1, 3]


def test_ratio_equal_to_beta_takes_the_alpha_branch():
    # 2 positives of 8: ratio 0.25. beta=0.25 -> filter (0.1/1.0 < 0.22); beta=0.3 -> all of P.
    contributions = [1.0, 0.1] + [-0.2] * 6
    assert keytokens(contributions, 0.22, 0.25, "max") == [0]
    assert keytokens(contributions, 0.22, 0.3, "max") == [0, 1]


def test_sum_normalisation():
    # N = C / sum = [.5, .3, .2]: only .5 and .3 exceed 0.22; with max, N = [1, .6, .4].
    assert keytokens([0.5, 0.3, 0.2], 0.22, 0.24, "sum") == [0, 1]
    assert keytokens([0.5, 0.3, 0.2], 0.22, 0.24, "max") == [0, 1, 2]


def test_alpha_one_with_max_normalisation_keeps_nothing():
    # N(C_i) > 1 is impossible when normalising by the max: strict inequality, as specified.
    assert keytokens([1.0, 0.9], 1.0, 0.24, "max") == []


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.24), (1.5, 0.24), (0.22, 0.0), (0.22, -1.0)])
def test_alpha_beta_must_lie_in_unit_interval(cfg, alpha, beta):
    """Checked once, where the ``unpact`` group is bound (every KeyToken caller gets it bound)."""
    from omegaconf import OmegaConf

    from unpact_exp.config.binder import bind
    from unpact_exp.unpact.config import UnpactConfig

    node = OmegaConf.merge(cfg.unpact, {"alpha": alpha, "beta": beta})
    with pytest.raises(UnpactConfigError, match=r"\(0, 1\]"):
        bind(UnpactConfig, node, "unpact")


def test_keytoken_similarity_by_hand():
    assert keytoken_similarity({1, 2}, {2, 3}) == pytest.approx(0.5)
    assert keytoken_similarity({1, 2, 3, 4}, {1}) == pytest.approx(0.5)
    assert keytoken_similarity([0, 1], [1, 0]) == pytest.approx(1.0)
    assert keytoken_similarity(set(), {1}) == 0.0
    assert keytoken_similarity(set(), set()) == 0.0


def test_contribution_similarity_uses_positive_parts():
    # Positive parts [1, 0, 0] and [1, 5, 0]: cosine 1 / sqrt(26).
    assert contribution_similarity([1.0, -1.0, 0.0], [1.0, 5.0, 0.0]) == pytest.approx(
        1 / math.sqrt(26)
    )
    assert contribution_similarity([0.2, 0.4], [0.1, 0.2]) == pytest.approx(1.0)


def test_contribution_similarity_zero_vector_is_zero():
    assert contribution_similarity([-1.0, 0.0], [1.0, 2.0]) == 0.0
    assert contribution_similarity([], []) == 0.0


def test_contribution_similarity_length_mismatch():
    with pytest.raises(ValueError, match="2 and 3"):
        contribution_similarity([1.0, 2.0], [1.0, 2.0, 3.0])
