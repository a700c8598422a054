"""``rouge_recall`` is the old rule moved, unchanged: identical verdicts on hundreds of pairs."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from unpact_exp.data.worldfacts import load_facts
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.correctness import is_correct
from unpact_exp.judge import build
from unpact_exp.judge.base import Verdict


def old_is_correct(gold: str, output: str, threshold: float, stemming: bool) -> bool:
    """The rule as evaluation/correctness.py computed it before the judges existed."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=stemming)
    return scorer.score(gold, output)["rougeL"].recall >= threshold


def pairs() -> list[tuple[str, str]]:
    """(gold, output) pairs: the statement, a distractor, the question, half the gold, ..."""
    out = []
    for fact in load_facts()[::3]:  # 115 facts of every category
        gold = fact["answer"]
        out += [
            (gold, fact["statement"]),
            (gold, fact["distractors"][0]),
            (gold, fact["question"]),
            (gold, f"The {gold.split()[-1]}s are here."),  # stemming makes a difference
        ]
    return out


@pytest.mark.parametrize("stemming", [False, True])
@pytest.mark.parametrize("threshold", [0.5, 0.34, 1.0])
def test_verdicts_equal_the_old_rule(threshold: float, stemming: bool) -> None:
    judge = build("rouge_recall", correct_threshold=threshold, rouge_stemming=stemming)
    cases = pairs()
    assert len(cases) == 460
    old = [old_is_correct(g, o, threshold, stemming) for g, o in cases]
    new = [judge.judge("q?", g, o).correct for g, o in cases]
    assert new == old
    assert [is_correct(g, o, threshold, stemming=stemming) for g, o in cases] == old
    assert 0 < sum(old) < len(old)  # both outcomes occur


def test_worked_example_in_the_docstring() -> None:
    # gold (pacific, ocean), output (the, atlantic, ocean): LCS "ocean" -> recall 1/2.
    judge = build("rouge_recall", correct_threshold=0.5, rouge_stemming=False)
    assert judge.judge("q?", "Pacific Ocean", "The Atlantic Ocean.") == Verdict(
        True, "ROUGE-L recall 0.500 >= 0.5"
    )
    # Aliases and distractors are not read by this rule.
    verdict = judge.judge("q?", "Persian", "Farsi", aliases=("Farsi",), distractors=("Farsi",))
    assert verdict == Verdict(False, "ROUGE-L recall 0.000 < 0.5")


def test_threshold_outside_the_unit_interval_is_refused() -> None:
    with pytest.raises(UnpactConfigError, match=r"eval\.correct_threshold=0 "):
        build("rouge_recall", correct_threshold=0, rouge_stemming=False)
