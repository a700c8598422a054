"""FocusOnKey: re-ask a forgotten question with its KeyTokens emphasised (docs/science.md §5).

If unlearning only moved the model's focus away from the KeyTokens, pointing at them
again brings the answer back. Each template of ``focus_on_key.templates`` rewrites the
question with the KeyTokens phrase as ``{keys}``; a forgotten question is *recovered* when
the answer to any template is correct (for multiple choice: the rewritten question keeps
its choices and the predicted letter is judged). A question whose KeyTokens phrase is
empty (the model put no weight on any question unit) has nothing to focus on: it is not
asked and counts as not recovered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import torch

from unpact_exp.attacks.base import AttackBase, ask_and_judge
from unpact_exp.attacks.registry import register
from unpact_exp.config import checks
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.attacking import AttackContext, AttackRun, Outcome, Target, phrases_of


def focus_questions(question: str, keys: str, templates: Sequence[str]) -> list[str]:
    """One rewritten question per template: ``template.format(keys=keys, question=question)``."""
    return [template.format(keys=keys, question=question) for template in templates]


def check_templates(key: str, templates: Sequence[str], placeholders: Sequence[str]) -> None:
    """Each template renders and holds every placeholder (``{keys}``, ``{question}``).

    Raises:
        UnpactConfigError: an empty list, a template that cannot be rendered, or one missing a
            placeholder.
    """
    checks.non_empty(key, tuple(templates), "'{question} Focus on {keys} to answer.'")
    for template in templates:
        try:
            template.format(**{p: "" for p in placeholders})
        except (KeyError, IndexError, ValueError) as err:
            raise UnpactConfigError(
                f"{key} entry {template!r} cannot be rendered ({err!r}); the placeholders "
                f"allowed are {', '.join('{' + p + '}' for p in placeholders)}."
            ) from err
        missing = [p for p in placeholders if "{" + p + "}" not in template]
        if missing:
            raise UnpactConfigError(
                f"{key} entry {template!r} must contain "
                f"{' and '.join(repr('{' + p + '}') for p in placeholders)}."
            )


def focus_outcomes(
    model: torch.nn.Module,
    target: Target,
    phrases: Sequence[str],
    templates: Sequence[str],
    columns: bool = True,
) -> list[Outcome]:
    """Ask every question with each template around its phrase; an empty phrase is not asked.

    ``columns``: keep the phrase and the prompts as FocusOnKey's per-question columns.
    """
    questions = [
        focus_questions(item.question, phrase, templates) if phrase else []
        for item, phrase in zip(target.items, phrases)
    ]
    extra = [{"focus_keys": p, "focus_prompts": q} for p, q in zip(phrases, questions)]
    return ask_and_judge(model, target, questions, extra=extra if columns else None)


@register("focus_on_key")
class FocusOnKey(AttackBase):
    """The paper's attack, on the questions M1 forgot.

    Args:
        keytokens_from: ``original`` (M0's KeyTokens, as the paper) or ``unlearned`` (M1's).
        templates: question rewrites, each with ``{keys}`` and ``{question}``; one greedy
            answer per template, so their number is also the budget of PROBAB and the controls.
    """

    rate: ClassVar[str] = "recovery_rate"
    header: ClassVar[str] = "FocusOnKey recovery (%)"
    column: ClassVar[str] = "focus"
    extra_columns: ClassVar[dict[str, Any]] = {"focus_keys": "", "focus_prompts": []}
    kinds: ClassVar[tuple[str, ...]] = ("qa", "mc")
    group: ClassVar[str] = "focus_on_key"

    def __init__(
        self, keytokens_from: Literal["original", "unlearned"], templates: tuple[str, ...]
    ) -> None:
        check_templates("focus_on_key.templates", templates, ("keys", "question"))
        self.keytokens_from = keytokens_from
        self.templates = templates

    def attempts(self, ctx: AttackContext) -> int:
        """One answer per template."""
        return len(self.templates)

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """FocusOnKey with M0's (or M1's) KeyTokens on every forgotten question."""
        keys = (
            target.keytokens_original
            if self.keytokens_from == "original"
            else target.keytokens_unlearned
        )
        outcomes = focus_outcomes(model, target, phrases_of(target.units, keys), self.templates)
        return AttackRun(outcomes, {"prompts_per_question": float(len(self.templates))})
