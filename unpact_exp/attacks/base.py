"""What every attack is: a class with its declarations, registered under its short name.

An attack is one file in :mod:`unpact_exp.attacks` holding an ``@register("<name>")`` class
that sets the declarations of :class:`~unpact_exp.evaluation.attacking.Attack` (its rate
key, report header, per-question column, item kinds, population, whether it is a
same-budget control) and implements ``attempts`` and ``run``. Its settings are constructor
arguments, bound from its config node (``attacks.<name>`` unless it names another ``group``)
by :mod:`unpact_exp.config.binder`. Attacks never subclass each other: what several share
(asking rewritten questions, FocusOnKey's phrase) are plain functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unpact_exp.evaluation.attacking import (
    AttackContext,
    AttackRun,
    Outcome,
    Population,
    RunsOn,
    Target,
)


class AttackBase:
    """Default declarations; a subclass sets at least ``rate`` and ``header``."""

    name: ClassVar[str] = ""
    rate: ClassVar[str] = ""
    header: ClassVar[str] = ""
    column: ClassVar[str] = ""
    extra_columns: ClassVar[dict[str, Any]] = {}
    kinds: ClassVar[tuple[str, ...]] = ("qa",)
    population: ClassVar[Population] = "forgotten"
    control: ClassVar[bool] = False
    runs_on: ClassVar[RunsOn] = "unlearned"
    group: ClassVar[str] = ""
    """The config node of its settings; empty: ``attacks.<name>``."""

    def check(self, ctx: AttackContext) -> None:
        """Refuse settings this run cannot honour (called once, before any evaluation)."""

    def attempts(self, ctx: AttackContext) -> int:
        """Answers tried per question."""
        raise NotImplementedError(f"{type(self).__name__} does not define attempts()")

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Attack every question of ``target``."""
        raise NotImplementedError(f"{type(self).__name__} does not define run()")


def ask_and_judge(
    model: torch.nn.Module,
    target: Target,
    questions: Sequence[Sequence[str]],
    icl: Sequence[Any] | None = None,
    extra: Sequence[dict[str, Any]] | None = None,
) -> list[Outcome]:
    """Ask every item its rewritten ``questions`` (greedy, one batched run) and judge them.

    An item given no question is attacked with nothing: it counts as not recovered.
    """
    answers = target.task.ask(model, target.items, questions, icl)
    hits = target.task.judge(target.items, answers)
    extras = extra if extra is not None else [{} for _ in target.items]
    return [
        Outcome(attacked=True, answers=list(a), hits=list(h), extra=dict(e))
        for a, h, e in zip(answers, hits, extras)
    ]
