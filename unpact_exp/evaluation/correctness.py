"""Is an answer correct? Free-form by ROUGE-L, multiple choice by letter (docs/science.md §4).

Free-form (MUSE knowmem): an answer is correct when the ROUGE-L *recall* of the gold
answer against it reaches ``eval.correct_threshold``: the gold facts must be in the
output, extra words are not penalised. The aggregate knowmem score is MUSE's: mean
ROUGE-L F1 x 100. ROUGE comes from the ``rouge-score`` package; ``eval.rouge_stemming``
(default false, as MUSE's ``rouge_scorer.RougeScorer(["rougeL"])``) turns on its Porter
stemmer (``use_stemmer=True``, as TOFU and open-unlearning), so "capitals" matches "capital".

Multiple choice is judged by letter (:mod:`unpact_exp.evaluation.multiple_choice`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any


@functools.lru_cache(maxsize=2)
def _scorer(stemming: bool) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemming)


def rouge_l(gold: str, output: str, *, stemming: bool) -> tuple[float, float]:
    """ROUGE-L ``(recall, f1)`` of ``gold`` (the reference) against ``output``.

    Args:
        gold: the reference answer.
        output: the model's answer.
        stemming: ``eval.rouge_stemming`` (Porter stemming of both texts).
    """
    score = _scorer(bool(stemming)).score(gold, output)["rougeL"]
    return float(score.recall), float(score.fmeasure)


def is_correct(gold: str, output: str, threshold: float, *, stemming: bool) -> bool:
    """True when the ROUGE-L recall of ``gold`` against ``output`` is at least ``threshold``."""
    return rouge_l(gold, output, stemming=stemming)[0] >= threshold


def any_correct(
    golds: Sequence[str], tried: Sequence[Sequence[str]], threshold: float, *, stemming: bool
) -> list[bool]:
    """Per question: whether any of the answers tried for it is correct (:func:`is_correct`).

    How every recovery attempt is judged (FocusOnKey, PROBAB, the other attacks): a
    question is recovered when one of its answers is.
    """
    return [
        any(is_correct(gold, a, threshold, stemming=stemming) for a in answers)
        for gold, answers in zip(golds, tried)
    ]
