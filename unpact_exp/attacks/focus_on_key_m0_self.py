"""The template's own lift: FocusOnKey asked of M0 on the questions M0 never knew.

No unlearning hid these answers, so whatever FocusOnKey makes the original model answer here
is what the prompt change alone produces on this model (docs/science.md §9). It runs once,
when the evaluation is set up (M0 is not kept afterwards), and its rate is reported at every
step beside M1's plain accuracy on the same questions (``m1_never_known_accuracy``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.focus_on_key import focus_outcomes
from unpact_exp.attacks.registry import register
from unpact_exp.evaluation.attacking import (
    AttackContext,
    AttackRun,
    Population,
    RunsOn,
    Target,
    phrases_of,
)


@register("focus_on_key_m0_self")
class FocusOnKeyM0Self(AttackBase):
    """FocusOnKey (its templates, M0's KeyTokens) on M0, over the never-known questions."""

    rate: ClassVar[str] = "focus_on_key_m0_self_rate"
    header: ClassVar[str] = "FocusOnKey on M0, never known (%)"
    column: ClassVar[str] = "m0_self"
    extra_columns: ClassVar[dict[str, Any]] = {}
    kinds: ClassVar[tuple[str, ...]] = ("qa", "mc")
    population: ClassVar[Population] = "never_known"
    runs_on: ClassVar[RunsOn] = "original"

    def attempts(self, ctx: AttackContext) -> int:
        """One answer per FocusOnKey template."""
        return ctx.budget

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """FocusOnKey on the original model."""
        phrases = phrases_of(target.units, target.keytokens_original)
        outcomes = focus_outcomes(model, target, phrases, ctx.focus_templates, columns=False)
        return AttackRun(outcomes, {"prompts_per_question": float(len(ctx.focus_templates))})
