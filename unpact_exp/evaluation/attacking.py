"""What the evaluation hands an attack, and what it gets back.

An attack (:mod:`unpact_exp.attacks`) is asked to recover answers on a set of questions of
one item kind, its :class:`Target`: the questions M1 forgot (FocusOnKey, PROBAB,
paraphrase, ICL, relearn and the controls) or those M0 never knew (the FocusOnKey control).
It returns one :class:`Outcome` per question: the answers it tried, which were correct, and
any extra per-question columns. The evaluation turns outcomes into the attack's rate (with
counts and interval), its per-attempt rate and the per-question table, so an attack never
computes a rate or writes a row itself.

This module defines the contract only; the attacks, which sit above the evaluation, implement
it, and the stages hand the evaluation the attacks a run asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import torch

from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.tasks import Task
from unpact_exp.unpact.keytokens import keys_phrase

Population = Literal["forgotten", "never_known"]
RunsOn = Literal["unlearned", "original"]


@dataclass(frozen=True)
class Target:
    """The questions of one item kind an attack is run on.

    Attributes:
        task: asks and judges these items (sharded across ranks where the evaluation is).
        items: the questions, in benchmark order.
        units: M0's UNPACT units of each question.
        keytokens_original: M0's KeyTokens (unit indices) per question.
        keytokens_unlearned: M1's KeyTokens per question.
    """

    task: Task
    items: list[Any]
    units: list[tuple[str, ...]]
    keytokens_original: list[list[int]]
    keytokens_unlearned: list[list[int]]


@dataclass(frozen=True)
class AttackContext:
    """What attacks share besides their own settings.

    Attributes:
        budget: FocusOnKey's attempts per question (its number of templates): the budget
            every same-budget control and PROBAB spend.
        retain_demonstrations: known retain question/answer pairs (the ICL attack's).
        seed: the run seed (seeded draws of the controls).
        focus_templates: FocusOnKey's templates (the controls that reuse them around
            another phrase).
        reask_templates: neutral rewordings the labels do not use (the ``reask`` control's;
            ``eval.labels.neutral_templates``).
    """

    budget: int
    retain_demonstrations: tuple[QAItem, ...]
    seed: int
    focus_templates: tuple[str, ...] = ()
    reask_templates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One question under one attack.

    Attributes:
        attacked: whether the attack was made on it (relearn measures half the questions;
            FocusOnKey skips a question with no KeyTokens, counting it as not recovered).
        answers: every answer tried.
        hits: per answer, whether it is correct.
        extra: attack-specific per-question values (FocusOnKey's phrase and prompts).
        draws: for an attack made in several independent draws (``focus_on_random``),
            whether each draw recovered the answer; empty: one draw, ``recovered``.
    """

    attacked: bool
    answers: list[str] = field(default_factory=list)
    hits: list[bool] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    draws: list[bool] = field(default_factory=list)

    @property
    def recovered(self) -> bool | None:
        """Any answer correct (in any draw); None where the question was not attacked."""
        return any(self.hits) if self.attacked else None

    @property
    def trials(self) -> tuple[int, int]:
        """``(recovered draws, draws)``: what the question adds to the attack's pooled rate."""
        if not self.attacked:
            return 0, 0
        if self.draws:
            return sum(self.draws), len(self.draws)
        return int(bool(self.recovered)), 1

    @property
    def score(self) -> float:
        """The share of draws that recovered the answer (0 or 1 for a single draw)."""
        k, n = self.trials
        return k / n if n else float("nan")


@dataclass(frozen=True)
class AttackRun:
    """An attack's outcomes on a target, and what it spent.

    Attributes:
        outcomes: one per question of the target, in its order.
        budget: what the attack spent (prompts per question, demonstrations, steps).
    """

    outcomes: list[Outcome]
    budget: dict[str, float]


class Attack(Protocol):
    """An attack as the evaluation sees it (implemented in :mod:`unpact_exp.attacks`).

    Attributes:
        name: the registry name (``attacks.every_step`` lists these).
        rate: the ``results.json`` key of its rate.
        header: its report header.
        column: per-question columns are ``recovered_<column>`` and ``<column>_answers``.
        extra_columns: its extra per-question columns, with their value where not attacked.
        kinds: the item kinds it can attack (``qa``, ``mc``).
        population: ``forgotten`` (F under M1) or ``never_known`` (questions M0 never knew).
        control: a same-budget control of FocusOnKey (compared with it question by question).
        runs_on: ``unlearned`` (M1, at every evaluation) or ``original`` (M0, once, when the
            evaluation is set up: ``focus_on_key_m0_self``).
    """

    name: ClassVar[str]
    rate: ClassVar[str]
    header: ClassVar[str]
    column: ClassVar[str]
    extra_columns: ClassVar[dict[str, Any]]
    kinds: ClassVar[tuple[str, ...]]
    population: ClassVar[Population]
    control: ClassVar[bool]
    runs_on: ClassVar[RunsOn]

    def check(self, ctx: AttackContext) -> None:
        """Refuse, before any evaluation, settings this run cannot honour."""
        ...

    def attempts(self, ctx: AttackContext) -> int:
        """Answers tried per question (its budget)."""
        ...

    def run(self, model: torch.nn.Module, target: Target, ctx: AttackContext) -> AttackRun:
        """Attack every question of ``target`` with the model under evaluation."""
        ...


def rate_column(attack: Attack) -> Column:
    """The report column of an attack's rate."""
    return Column(attack.rate, attack.header, "rate")


def check_outcomes(attack: Attack, run: AttackRun, target: Target) -> None:
    """An attack must answer for every question it was given (a programming error otherwise)."""
    if len(run.outcomes) != len(target.items):
        raise RuntimeError(
            f"attack {attack.name} returned {len(run.outcomes)} outcomes for "
            f"{len(target.items)} questions"
        )


def phrases_of(units: Sequence[tuple[str, ...]], keys: Sequence[Sequence[int]]) -> list[str]:
    """The KeyTokens of each question rendered as a phrase (:func:`keys_phrase`)."""
    return [keys_phrase(u, k) for u, k in zip(units, keys)]
