"""The FocusOnKey control: FocusOnKey on forget questions M0 never answered (docs/science.md §9).

The same templates and M0's KeyTokens, asked of the unlearned model on questions the
original model never knew. Whatever it gets right there did not come back from knowledge
that unlearning hid, so it qualifies ``recovery_rate``: recovery well above this rate is
evidence of retained knowledge, recovery at this rate is what rewording alone produces.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.focus_on_key import focus_outcomes
from unpact_exp.attacks.registry import register
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Population, Target, phrases_of


@register("focus_on_key_control")
class FocusOnKeyControl(AttackBase):
    """FocusOnKey (``focus_on_key.templates``, M0's KeyTokens) on the never-known questions.

    Args:
        templates: the FocusOnKey templates (bound from the ``focus_on_key`` group).
        keytokens_from: read with the group and unused: the control always emphasises M0's
            KeyTokens, the only ones defined on questions M1 was never taught.
    """

    rate: ClassVar[str] = "focus_on_key_control_rate"
    header: ClassVar[str] = "FocusOnKey control (%)"
    extra_columns: ClassVar[dict[str, Any]] = {}
    population: ClassVar[Population] = "never_known"
    group: ClassVar[str] = "focus_on_key"

    def __init__(self, keytokens_from: str, templates: tuple[str, ...]) -> None:
        self.templates = templates

    def attempts(self, ctx: AttackContext) -> int:
        """One answer per template."""
        return len(self.templates)

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """FocusOnKey on the questions M0 never knew."""
        phrases = phrases_of(target.units, target.keytokens_original)
        outcomes = focus_outcomes(model, target, phrases, self.templates, columns=False)
        return AttackRun(outcomes, {"prompts_per_question": float(len(self.templates))})
