"""Exact Memorization and Extraction Strength (metrics/memorization.py), by hand."""

from __future__ import annotations

import pytest
import torch

from unpact_exp.metrics.memorization import (
    exact_memorization,
    extraction_strength,
    greedy_predictions,
)


def test_exact_memorization_counts_matching_tokens() -> None:
    """Targets (5, 6, 7, 8), predictions (5, 0, 7, 8): 3 of 4 match, EM = 0.75."""
    assert exact_memorization([5, 0, 7, 8], [5, 6, 7, 8]) == 0.75
    assert exact_memorization([], []) is None
    with pytest.raises(ValueError, match="one per target"):
        exact_memorization([1], [1, 2])


@pytest.mark.parametrize(
    ("predictions", "es"),
    [
        ([5, 6, 7, 8], 1.0),  # k = 0: the whole target
        ([5, 0, 7, 8], 0.5),  # suffixes from k = 2 match: 1 - 2/4
        ([0, 6, 7, 8], 0.75),  # k = 1: 1 - 1/4
        ([5, 6, 7, 0], 0.25),  # no suffix matches: open-unlearning's loop leaves k = 3
        ([0, 0, 0, 0], 0.25),  # the same 1/n when nothing matches at all
    ],
)
def test_extraction_strength_is_one_minus_the_first_correct_suffix(predictions, es) -> None:
    """Targets (5, 6, 7, 8); ES = 1 - k/4 with k the start of the first exact suffix."""
    assert extraction_strength(predictions, [5, 6, 7, 8]) == es


def test_extraction_strength_of_an_empty_target_is_zero() -> None:
    assert extraction_strength([], []) == 0.0


def test_greedy_predictions_read_the_shifted_target_positions() -> None:
    """Position t predicts label t + 1; the prompt (-100) positions are skipped.

    logits argmax per position: (3, 1, 2, 0); labels (-100, -100, 1, 4): targets at positions 2
    and 3 are predicted by positions 1 and 2, i.e. predictions (1, 2) for targets (1, 4).
    """
    argmax = torch.tensor([3, 1, 2, 0])
    logits = torch.nn.functional.one_hot(argmax, 5).float().unsqueeze(0)
    labels = torch.tensor([[-100, -100, 1, 4]])
    assert greedy_predictions(logits, labels) == [([1, 2], [1, 4])]
    preds, targets = greedy_predictions(logits, labels)[0]
    assert exact_memorization(preds, targets) == 0.5
    assert extraction_strength(preds, targets) == 0.5  # no suffix matches (2 != 4): k = n - 1
