"""Paraphrase: the forgotten question rephrased (docs/science.md §10).

Data that carries paraphrases (the synthetic and world-facts benchmarks) uses them; other
data gets the ``attacks.paraphrase.templates`` rewordings. Up to ``max_paraphrases`` greedy
answers per question; recovered when any is correct.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from unpact_exp.attacks.base import AttackBase, ask_and_judge
from unpact_exp.attacks.focus_on_key import check_templates
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Target


def paraphrases(item: QAItem, templates: Sequence[str], limit: int) -> list[str]:
    """The item's own paraphrases if it has any, else the template rewordings; at most ``limit``."""
    own = [p for p in item.paraphrases if p and p != item.question]
    chosen = own if own else [t.format(question=item.question) for t in templates]
    return chosen[:limit]


@register("paraphrase")
class Paraphrase(AttackBase):
    """Ask each forgotten question in its rephrasings (with the benchmark's usual ICL examples).

    Args:
        templates: rewordings (``{question}``) for data without paraphrases.
        max_paraphrases: paraphrases tried per question (the budget).
    """

    rate: ClassVar[str] = "paraphrase_recovery_rate"
    header: ClassVar[str] = "paraphrase (%)"

    def __init__(self, templates: tuple[str, ...], max_paraphrases: int) -> None:
        check_templates("attacks.paraphrase.templates", templates, ("question",))
        checks.at_least("attacks.paraphrase.max_paraphrases", max_paraphrases, 1)
        self.templates, self.max_paraphrases = templates, max_paraphrases

    def attempts(self, ctx: AttackContext) -> int:
        """At most ``max_paraphrases`` per question."""
        return self.max_paraphrases

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Greedy answers to every paraphrase, judged."""
        questions = [paraphrases(i, self.templates, self.max_paraphrases) for i in target.items]
        own = sum(1 for item in target.items if item.paraphrases)
        budget = {
            "prompts_per_question": float(max((len(q) for q in questions), default=0)),
            "with_data_paraphrases": float(own),
        }
        return AttackRun(ask_and_judge(model, target, questions), budget)
