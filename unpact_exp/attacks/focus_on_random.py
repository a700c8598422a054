"""The random-words control: FocusOnKey's templates around random words of the question.

If KeyTokens matter, emphasising them must beat emphasising any other words of the same
question in the same templates (docs/science.md §9). For each forgotten question and each of
``draws`` seeded draws, as many non-KeyToken words as the question has KeyTokens are drawn
(uniformly, without replacement, among the units that hold a letter or digit) and put where
FocusOnKey puts the KeyTokens. A draw recovers the answer when any template does; the rate
pools the draws (recovered draws / draws over all questions), and the comparison with
FocusOnKey pairs each question's share of recovering draws with its FocusOnKey outcome.
A question with no KeyTokens (FocusOnKey skips it) or no other word is not attacked.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase
from unpact_exp.attacks.focus_on_key import focus_questions
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Outcome, Target
from unpact_exp.unpact.keytokens import keys_phrase


def random_units(units: Sequence[str], keys: Sequence[int], rng: random.Random) -> list[int] | None:
    """As many word units outside ``keys`` as ``keys`` has words, drawn by ``rng``; None when
    the question has no KeyToken word or no other word to draw."""
    wanted = sum(1 for k in keys if units[k].strip())
    pool = [i for i, u in enumerate(units) if i not in set(keys) and any(c.isalnum() for c in u)]
    if wanted == 0 or not pool:
        return None
    return sorted(rng.sample(pool, min(wanted, len(pool))))


@register("focus_on_random")
class FocusOnRandom(AttackBase):
    """FocusOnKey's templates with random non-KeyToken words of the question.

    Args:
        draws: independent draws per question (pooled into one rate).
    """

    rate: ClassVar[str] = "focus_on_random_rate"
    header: ClassVar[str] = "Random words (%)"
    control: ClassVar[bool] = True

    def __init__(self, draws: int) -> None:
        checks.at_least("attacks.focus_on_random.draws", draws, 1)
        self.draws = draws

    def attempts(self, ctx: AttackContext) -> int:
        """FocusOnKey's budget in each draw."""
        return ctx.budget

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Every draw of every question in one batched run; draws seeded by the run seed and
        the question text, so they do not depend on the batch or the rank."""
        questions: list[list[str]] = []
        chosen: list[list[list[int]]] = []
        for item, units, keys in zip(target.items, target.units, target.keytokens_original):
            rng = random.Random(f"{ctx.seed}:{item.question}")
            picks = [random_units(units, keys, rng) for _ in range(self.draws)]
            drawn = [p for p in picks if p is not None]
            chosen.append(drawn)
            questions.append(
                [
                    q
                    for p in drawn
                    for q in focus_questions(
                        item.question, keys_phrase(units, p), ctx.focus_templates
                    )
                ]
            )
        answers = target.task.ask(model, target.items, questions)
        hits = target.task.judge(target.items, answers)
        size = len(ctx.focus_templates)
        outcomes = []
        for drawn, a, h in zip(chosen, answers, hits):
            draws = [any(h[d * size : (d + 1) * size]) for d in range(len(drawn))]
            outcomes.append(Outcome(bool(drawn), list(a), list(h), draws=draws))
        budget = {"prompts_per_question": float(size), "draws": float(self.draws)}
        return AttackRun(outcomes, budget)
