"""ICL: known retain question/answer pairs as demonstrations before the question (§10).

``attacks.icl.k`` retain questions that M0 answers correctly, with their gold answers, are
put before the forgotten question (one greedy answer). If the model only lost the habit of
answering this kind of question, demonstrations of it bring the answer back.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase, ask_and_judge
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Target


@register("icl")
class InContext(AttackBase):
    """Ask each forgotten question once, after ``k`` known retain pairs.

    Args:
        k: demonstrations before the question.
    """

    rate: ClassVar[str] = "icl_recovery_rate"
    header: ClassVar[str] = "ICL (%)"

    def __init__(self, k: int) -> None:
        checks.at_least("attacks.icl.k", k, 1)
        self.k = k

    def attempts(self, ctx: AttackContext) -> int:
        """One answer per question."""
        return 1

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """One greedy answer after the demonstrations."""
        demos = ctx.retain_demonstrations[: self.k]
        questions = [[item.question] for item in target.items]
        outcomes = ask_and_judge(model, target, questions, icl=demos)
        return AttackRun(
            outcomes, {"demonstrations": float(len(demos)), "prompts_per_question": 1.0}
        )
