"""The neutral-phrase control: FocusOnKey's templates around a phrase that names nothing.

Appending "Focus on ... to answer" rewords the question whatever it emphasises, and a small
model may answer a reworded question it missed before. This control asks the same templates
with ``attacks.focus_on_neutral.phrase`` (default "the question") in place of the KeyTokens,
on the same forgotten questions and in the same budget (docs/science.md §9).
"""

from __future__ import annotations

from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.focus_on_key import focus_outcomes
from unpact_exp.attacks.registry import register
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Target


@register("focus_on_neutral")
class FocusOnNeutral(AttackBase):
    """FocusOnKey's templates with a fixed neutral phrase.

    Args:
        phrase: what the templates emphasise instead of the KeyTokens.
    """

    rate: ClassVar[str] = "focus_on_neutral_rate"
    header: ClassVar[str] = "Neutral phrase (%)"
    control: ClassVar[bool] = True

    def __init__(self, phrase: str) -> None:
        if not phrase.strip():
            raise UnpactConfigError(
                "attacks.focus_on_neutral.phrase is empty; give a phrase that names nothing in "
                "the question, e.g. 'the question'."
            )
        self.phrase = phrase

    def attempts(self, ctx: AttackContext) -> int:
        """FocusOnKey's budget."""
        return ctx.budget

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Every question asked with each FocusOnKey template around the neutral phrase."""
        phrases = [self.phrase] * len(target.items)
        outcomes = focus_outcomes(model, target, phrases, ctx.focus_templates, columns=False)
        return AttackRun(outcomes, {"prompts_per_question": float(len(ctx.focus_templates))})
