"""One forget question of one evaluation: the typed row behind every per-question table.

``questions.csv`` (:mod:`unpact_exp.evaluation.question_table`), ``questions.jsonl``, the
threshold grid (which reads ``questions.csv`` back) and the W&B table all show the same
row, built once here: the gold answer, M0's and M1's answers and KeyTokens, the
similarities, UNPACT's units and contributions, and one cell per attack that ran.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class AttackCell:
    """One attack on one question.

    Attributes:
        recovered: whether it recovered the answer; None where the question was not attacked.
        answers: every answer it tried.
        extra: the attack's own per-question values (FocusOnKey's phrase and prompts).
    """

    recovered: bool | None
    answers: list[str]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class QuestionRow:
    """One forget question of one evaluation (M0 against M1).

    Attributes:
        kind: ``qa`` or ``mc``.
        index: position in its item list (benchmark order).
        question, gold: the item.
        original_answer, unlearned_answer: M0's and M1's answers (a letter for ``mc``).
        known: M0 right on every neutral ask (``eval.labels``; not flagged).
        forgotten: known and M1 wrong on every neutral ask.
        keytokens_original, keytokens_unlearned: the KeyTokens' unit texts under M0 and M1.
        keytoken_similarity, contribution_similarity: the focus shift on this question.
        units: the question's UNPACT units.
        contributions_original, contributions_unlearned: C_i under M0 and M1 (kept so the
            KeyToken thresholds can be re-tuned later without re-scoring).
        original_right_asks, unlearned_right_asks: neutral asks M0 and M1 answered right.
        unstable: M0 right on some asks but not known (left out of the rates).
        gold_in_question: the gold appears in the question (flagged by the strict judge and
            left out of every label).
        likely_original, likely_unlearned: M0 / M1 rank the gold above every distractor
            (False for an item without distractors).
        attacks: attack column -> its cell, for every attack run at this evaluation.
    """

    kind: str
    index: int
    question: str
    gold: str
    original_answer: str
    unlearned_answer: str
    known: bool
    forgotten: bool
    keytokens_original: list[str]
    keytokens_unlearned: list[str]
    keytoken_similarity: float
    contribution_similarity: float
    units: list[str]
    contributions_original: list[float]
    contributions_unlearned: list[float]
    original_right_asks: int = 0
    unlearned_right_asks: int = 0
    unstable: bool = False
    gold_in_question: bool = False
    likely_original: bool = False
    likely_unlearned: bool = False
    attacks: dict[str, AttackCell] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The row as flat JSON values: its fields, then per attack its extra values,
        ``recovered_<column>`` and ``<column>_answers``."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "attacks"}
        for column, cell in self.attacks.items():
            out.update(cell.extra)
            out[f"recovered_{column}"] = cell.recovered
            out[f"{column}_answers"] = cell.answers
        return out


BASE_FIELDS = tuple(f.name for f in fields(QuestionRow) if f.name != "attacks")
"""The row's own columns, in order (attack columns follow them)."""


def attack_columns(rows: list[QuestionRow]) -> list[str]:
    """The attack-related record keys of ``rows``, in the order they first appear."""
    keys: dict[str, None] = {}
    for row in rows:
        for key in row.record():
            if key not in BASE_FIELDS:
                keys.setdefault(key, None)
    return list(keys)


def declared_columns(attacks: Iterable[Any]) -> list[str]:
    """The per-question columns of ``attacks`` (objects with ``column`` and
    ``extra_columns``, as :class:`~unpact_exp.evaluation.attacking.Attack` declares them), in
    the order a row records them: each attack's extra columns, ``recovered_<column>``,
    ``<column>_answers``."""
    keys: dict[str, None] = {}
    for attack in attacks:
        column = attack.column
        for key in (*attack.extra_columns, f"recovered_{column}", f"{column}_answers"):
            keys.setdefault(key, None)
    return list(keys)


def table_columns(rows: list[QuestionRow], declared: Sequence[str] = ()) -> list[str]:
    """The columns of a per-question table: the row's own, the ``declared`` attack columns
    (those of every attack a run schedules, so each evaluation's table has them all, empty
    where an attack did not run), then any other attack column the rows hold."""
    extra = dict.fromkeys(declared)
    extra.update(dict.fromkeys(attack_columns(rows)))
    return list(BASE_FIELDS) + list(extra)


def as_dict(cell: AttackCell) -> dict[str, Any]:
    """A cell as JSON values (for logging)."""
    return asdict(cell)
