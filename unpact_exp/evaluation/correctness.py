"""Is an answer correct? Free-form by ROUGE-L, multiple choice by letter (docs/science.md §4).

Free-form (MUSE knowmem): an answer is correct when the ROUGE-L *recall* of the gold
answer against it reaches ``eval.correct_threshold``: the gold facts must be in the
output, extra words are not penalised. The aggregate knowmem score is MUSE's: mean
ROUGE-L F1 x 100. The ROUGE rule itself (:func:`rouge_l`, the stemming switch
``eval.rouge_stemming``) lives in :mod:`unpact_exp.judge.rouge_recall`, one of the judges of
:mod:`unpact_exp.judge`; :func:`is_correct` and :func:`any_correct` delegate to it.

Multiple choice is judged by letter (:mod:`unpact_exp.evaluation.multiple_choice`).
"""

from __future__ import annotations

from collections.abc import Sequence

from unpact_exp.judge.rouge_recall import rouge_l, rouge_recall_correct

__all__ = ["any_correct", "is_correct", "rouge_l"]


def is_correct(gold: str, output: str, threshold: float, *, stemming: bool) -> bool:
    """True when the ROUGE-L recall of ``gold`` against ``output`` is at least ``threshold``.

    The rule lives in :mod:`unpact_exp.judge.rouge_recall` (``eval.judge=rouge_recall``).
    """
    return rouge_recall_correct(gold, output, threshold, stemming=stemming)


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
