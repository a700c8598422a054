"""PROBAB: the budget-matched random-sampling baseline for FocusOnKey (docs/science.md §5).

Recovery by FocusOnKey only means something if it beats simply asking again: for each
forgotten question we draw as many multinomial samples from M1 on the *plain* prompt as
FocusOnKey has attempts, and call the question recovered when any sample is correct. For
multiple-choice items a sample is a letter drawn from the model's letter distribution. The
seed is reset on every call, so two evaluations of the same model agree.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Outcome, Target


@register("probab")
class Probab(AttackBase):
    """Sampled answers to the plain prompt, as many as FocusOnKey's attempts.

    Args:
        temperature: softmax temperature (> 0).
        top_p: nucleus mass in (0, 1]; 1.0 is plain multinomial sampling.
        seed: the sampling seed (``probab.seed`` follows the run's ``seed``).
    """

    rate: ClassVar[str] = "probab_recovery_rate"
    header: ClassVar[str] = "PROBAB recovery (%)"
    column: ClassVar[str] = "probab"
    kinds: ClassVar[tuple[str, ...]] = ("qa", "mc")
    control: ClassVar[bool] = True
    group: ClassVar[str] = "probab"

    def __init__(self, temperature: float, top_p: float, seed: int) -> None:
        checks.positive("probab.temperature", temperature)
        checks.unit_interval("probab.top_p", top_p)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed

    def attempts(self, ctx: AttackContext) -> int:
        """FocusOnKey's budget."""
        return ctx.budget

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Sample ``ctx.budget`` answers per question (seeded) and judge them."""
        samples = target.task.sample(
            model, target.items, ctx.budget, self.temperature, self.top_p, self.seed
        )
        hits = target.task.judge(target.items, samples)
        outcomes = [Outcome(True, list(s), list(h)) for s, h in zip(samples, hits)]
        return AttackRun(outcomes, {"samples_per_question": float(ctx.budget)})
