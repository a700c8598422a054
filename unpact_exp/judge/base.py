"""What a judge is: a rule that says whether a free-form answer states the gold answer.

A judge sees one item at a time (the question, its gold answer, the gold's aliases, the
item's distractors, and the model's output) and returns a :class:`Verdict`, whose
``reason`` names the rule that decided, so a person auditing a run can see why an
answer was counted (``python -m unpact_exp.judge FILE.jsonl``). Judges are registered
by name (:mod:`unpact_exp.judge.registry`); docs/science.md §4 defines each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Verdict:
    """Whether an answer is correct, and the rule that decided it."""

    correct: bool
    reason: str


class Judge:
    """Base of every judge; subclasses set :attr:`name` (by registering) and :meth:`judge`."""

    name: ClassVar[str] = ""
    flags_gold_in_question: ClassVar[bool] = False
    """Whether items whose gold answer appears in the question are left out of the rates
    (an echo of the question would count as knowing the answer)."""

    def judge(
        self,
        question: str,
        gold: str,
        answer: str,
        *,
        aliases: Sequence[str] = (),
        distractors: Sequence[str] = (),
    ) -> Verdict:
        """Judge one answer.

        Args:
            question: the question as asked (without any prompt template).
            gold: the gold answer.
            answer: the model's output.
            aliases: other accepted names of the gold answer ("Farsi" for Persian).
            distractors: wrong answers of this item (multiple-choice distractors, the other
                candidates of its category); naming one makes an answer wrong.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define judge()")

    def judge_many(
        self,
        questions: Sequence[str],
        golds: Sequence[str],
        answers: Sequence[str],
        *,
        aliases: Sequence[Sequence[str]] | None = None,
        distractors: Sequence[Sequence[str]] | None = None,
    ) -> list[Verdict]:
        """:meth:`judge` over parallel lists (``None``: no aliases / distractors for any item).

        Raises:
            ValueError: the lists differ in length.
        """
        n = len(questions)
        aliases = [()] * n if aliases is None else aliases
        distractors = [()] * n if distractors is None else distractors
        lengths = [len(questions), len(golds), len(answers), len(aliases), len(distractors)]
        if len(set(lengths)) != 1:
            raise ValueError(
                "one entry per item needed (questions, golds, answers, aliases, distractors); "
                f"got {lengths}."
            )
        return [
            self.judge(q, g, a, aliases=al, distractors=d)
            for q, g, a, al, d in zip(questions, golds, answers, aliases, distractors)
        ]
