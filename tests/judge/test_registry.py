"""The judge registry: names, near-miss errors, and settings bound by constructor."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from unpact_exp.errors import UnpactConfigError
from unpact_exp.judge import registry
from unpact_exp.judge.base import Judge, Verdict
from unpact_exp.judge.rouge_recall import RougeRecallJudge
from unpact_exp.judge.strict import StrictJudge


def test_builtin_judges() -> None:
    assert registry.names() == ["rouge_recall", "strict"]
    assert registry.get("strict") is StrictJudge


def test_unknown_name_lists_the_judges_and_the_closest() -> None:
    with pytest.raises(
        UnpactConfigError, match=r"'strikt'.*\['rouge_recall', 'strict'\].*'strict'"
    ):
        registry.get("strikt")


def test_build_passes_each_judge_only_its_settings() -> None:
    rouge = registry.build("rouge_recall", correct_threshold=0.7, rouge_stemming=True)
    assert isinstance(rouge, RougeRecallJudge)
    assert (rouge.threshold, rouge.stemming) == (0.7, True)
    assert isinstance(
        registry.build("strict", correct_threshold=0.7, rouge_stemming=True), StrictJudge
    )


def test_a_new_judge_is_one_registration() -> None:
    @registry.register("always")
    class Always(Judge):
        def __init__(self, rouge_stemming: bool) -> None:
            self.stemming = rouge_stemming

        def judge(
            self,
            question: str,
            gold: str,
            answer: str,
            *,
            aliases: Sequence[str] = (),
            distractors: Sequence[str] = (),
        ) -> Verdict:
            return Verdict(True, "always")

    try:
        built = registry.build("always", correct_threshold=0.5, rouge_stemming=False)
        assert built.name == "always" and built.stemming is False
        assert built.judge_many(["q"], ["g"], ["a"]) == [Verdict(True, "always")]
    finally:
        registry.unregister("always")
    assert "always" not in registry.names()
