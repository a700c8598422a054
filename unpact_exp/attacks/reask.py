"""The re-ask control: as many neutral greedy re-asks as FocusOnKey has attempts.

A forgotten question is one M1 missed on every labelling ask; asking it again, reworded
without any emphasis, measures how much of FocusOnKey's recovery any rewording gives
(docs/science.md §9). The rewordings are the ``eval.labels.neutral_templates`` the labels
did not use, so no re-ask repeats a labelling prompt; the run is refused at start when there
are fewer of them than FocusOnKey's attempts.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase, ask_and_judge
from unpact_exp.attacks.registry import register
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Target


@register("reask")
class Reask(AttackBase):
    """Neutral rewordings of the plain question, FocusOnKey's budget of them."""

    rate: ClassVar[str] = "reask_rate"
    header: ClassVar[str] = "Re-ask (%)"
    control: ClassVar[bool] = True

    def check(self, ctx: AttackContext) -> None:
        """Enough unused neutral rewordings for FocusOnKey's budget."""
        if len(ctx.reask_templates) < ctx.budget:
            raise UnpactConfigError(
                f"the reask control needs {ctx.budget} neutral rewordings (FocusOnKey's "
                "attempts) beyond the labelling asks, but "
                f"eval.labels.neutral_templates leaves {len(ctx.reask_templates)}; add "
                "templates with {question} to eval.labels.neutral_templates, or drop reask "
                "from attacks.every_step."
            )

    def attempts(self, ctx: AttackContext) -> int:
        """FocusOnKey's budget."""
        return ctx.budget

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Ask every question reworded by the first ``budget`` unused neutral templates."""
        templates = ctx.reask_templates[: ctx.budget]
        questions = [[t.format(question=item.question) for t in templates] for item in target.items]
        outcomes = ask_and_judge(model, target, questions)
        return AttackRun(outcomes, {"prompts_per_question": float(len(templates))})
