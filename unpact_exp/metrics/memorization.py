"""Exact Memorization and Extraction Strength of a target under teacher forcing.

Both read the model's greedy next-token predictions ``g_1 .. g_n`` at the target positions
(``g_t = argmax_v p(v | prompt, y_<t)``) against the target tokens ``y_1 .. y_n``, as
open-unlearning's ``exact_memorization`` and ``extraction_strength``
(``src/evals/metrics/memorization.py`` of locuslab/open-unlearning)::

    EM = (1/n) * #{t : g_t = y_t}
    ES = 1 - k / n,  k = min{k : g_t = y_t for every t >= k}   (0-based: the shortest
                                                                correct suffix starts at k)

EM is the fraction of target tokens the model would predict; ES says how much of the target's
*end* the model reproduces from its own start (1: every token, so the whole target comes back
from the prompt alone; near 0: only a short tail). open-unlearning scans ``k = 0 .. n - 1`` and
stops at the first fully correct suffix; when no suffix is correct (the last prediction is
wrong too) its loop ends at ``k = n - 1``, so ES is ``1/n``, not 0. That edge case is kept here
so the numbers compare.

open-unlearning scores the answer tokens without the final EOS; the caller chooses the tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _pairs(predictions: Sequence[int], targets: Sequence[int]) -> list[bool]:
    if len(predictions) != len(targets):
        raise ValueError(
            f"{len(predictions)} predictions for {len(targets)} target tokens: one per target"
        )
    return [int(g) == int(y) for g, y in zip(predictions, targets)]


def exact_memorization(predictions: Sequence[int], targets: Sequence[int]) -> float | None:
    """EM: the fraction of target tokens equal to the greedy prediction (None without targets)."""
    hits = _pairs(predictions, targets)
    return sum(hits) / len(hits) if hits else None


def extraction_strength(predictions: Sequence[int], targets: Sequence[int]) -> float:
    """ES: ``1 - k/n`` for the first ``k`` whose suffix is predicted exactly (0 without targets).

    open-unlearning's loop, including its ``k = n - 1`` when no suffix matches (see the module
    docstring), and its 0 for an empty target.
    """
    hits = _pairs(predictions, targets)
    n = len(hits)
    if n == 0:
        return 0.0
    k = n - 1
    for start in range(n):
        if all(hits[start:]):
            k = start
            break
    return 1.0 - k / n


Pairs = list[tuple[list[int], list[int]]]


def greedy_predictions(logits: torch.Tensor, labels: torch.Tensor) -> Pairs:
    """Per sequence, the greedy predictions and the targets at its target positions.

    Args:
        logits: ``[B, T, V]`` model outputs (teacher forcing: position t predicts t + 1).
        labels: ``[B, T]`` target ids, ``-100`` where not a target.

    Returns:
        ``[(predictions, targets), ...]``, one pair of equal-length lists per sequence.
    """
    preds = logits[:, :-1, :].argmax(dim=-1)
    shifted = labels[:, 1:]
    out = []
    for row in range(labels.shape[0]):
        mask = shifted[row] != -100
        out.append((preds[row][mask].tolist(), shifted[row][mask].tolist()))
    return out
