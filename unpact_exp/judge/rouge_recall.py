"""``eval.judge=rouge_recall``: the framework's first rule, ROUGE-L recall of the gold answer.

An answer is correct when the ROUGE-L *recall* of the gold answer against the whole
output reaches ``eval.correct_threshold`` (docs/science.md §4): the gold's words must be
in the output, in order, and extra words cost nothing. ROUGE comes from the
``rouge-score`` package; ``eval.rouge_stemming`` (default false, as MUSE's
``rouge_scorer.RougeScorer(["rougeL"])``) turns on its Porter stemmer (``use_stemmer=True``,
as TOFU and open-unlearning), so "capitals" matches "capital".

The rule is kept unchanged so that earlier numbers can be reproduced. It accepts wrong
answers that share half the gold's words ("North America" for South America, "Ghanaian
dollar" for Ghanaian cedi) and ignores aliases and distractors; the strict judge
(:mod:`unpact_exp.judge.strict`) does not.

Worked example: gold "Pacific Ocean", output "The Atlantic Ocean." The longest common
subsequence of the gold's tokens (pacific, ocean) in the output's (the, atlantic, ocean)
is "ocean", one token: recall = 1 / 2 = 0.5 >= 0.5, so the answer counts as correct.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from unpact_exp.errors import UnpactConfigError
from unpact_exp.judge.base import Judge, Verdict
from unpact_exp.judge.registry import register


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


def rouge_recall_correct(gold: str, output: str, threshold: float, *, stemming: bool) -> bool:
    """True when the ROUGE-L recall of ``gold`` against ``output`` is at least ``threshold``."""
    return rouge_l(gold, output, stemming=stemming)[0] >= threshold


@register("rouge_recall")
class RougeRecallJudge(Judge):
    """Correct when ROUGE-L recall of the gold against the output >= the threshold.

    Args:
        correct_threshold: ``eval.correct_threshold``, in (0, 1].
        rouge_stemming: ``eval.rouge_stemming``.
    """

    def __init__(self, correct_threshold: float, rouge_stemming: bool) -> None:
        if not 0 < correct_threshold <= 1:
            raise UnpactConfigError(
                f"eval.correct_threshold={correct_threshold!r} must be in (0, 1] (the ROUGE-L "
                "recall of the gold an answer needs; default 0.5)."
            )
        self.threshold = float(correct_threshold)
        self.stemming = bool(rouge_stemming)

    def judge(
        self,
        question: str,
        gold: str,
        answer: str,
        *,
        aliases: Sequence[str] = (),
        distractors: Sequence[str] = (),
    ) -> Verdict:
        """ROUGE-L recall of ``gold`` in ``answer`` against the threshold (aliases and
        distractors are not read: this is the old rule, unchanged)."""
        recall = rouge_l(gold, answer, stemming=self.stemming)[0]
        ok = recall >= self.threshold
        relation = ">=" if ok else "<"
        return Verdict(ok, f"ROUGE-L recall {recall:.3f} {relation} {self.threshold:g}")
