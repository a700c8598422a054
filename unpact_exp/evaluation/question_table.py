"""``questions.csv``: one line per forget question of an evaluation, for reading examples.

The rates say how often recovery worked; this table shows *what* happened on each question:
the gold answer, M0's and M1's answers, both KeyToken sets, the FocusOnKey prompts and answers,
the PROBAB samples and whether each attack recovered the answer, and the question's UNPACT units
with M0's and M1's contributions (so the KeyToken thresholds can be re-tuned afterwards without
re-scoring: :mod:`unpact_exp.attacks.focus_on_key_grid`). It opens in any spreadsheet.
List cells (KeyTokens, prompts, answers) are JSON arrays, so answers holding commas or
quotes stay unambiguous; an attack that was not run (the question was not forgotten) is an
empty cell, not ``False``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.rows import QuestionRow, attack_columns
from unpact_exp.results import atomic_write_text

QUESTIONS_CSV = "questions.csv"

# (CSV header, QuestionRow field), in reading order; the attack columns follow.
QUESTION_COLUMNS = (
    ("kind", "kind"),
    ("index", "index"),
    ("question", "question"),
    ("gold", "gold"),
    ("m0_answer", "original_answer"),
    ("m1_answer", "unlearned_answer"),
    ("known", "known"),
    ("forgotten", "forgotten"),
    ("k0_keytokens", "keytokens_original"),
    ("k1_keytokens", "keytokens_unlearned"),
    ("keytoken_similarity", "keytoken_similarity"),
    ("contribution_similarity", "contribution_similarity"),
    ("units", "units"),
    ("m0_contributions", "contributions_original"),
    ("m1_contributions", "contributions_unlearned"),
)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False)
    return value


def question_csv_text(rows: Sequence[QuestionRow], step: int | str) -> str:
    """The CSV text of ``rows``, every line tagged with ``step``; per attack that ran, its
    extra columns, ``recovered_<column>`` and ``<column>_answers`` after the row's own."""
    extra = attack_columns(list(rows))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step"] + [header for header, _ in QUESTION_COLUMNS] + extra)
    for row in rows:
        record = row.record()
        cells = [_cell(record[key]) for _, key in QUESTION_COLUMNS]
        writer.writerow([step, *cells, *(_cell(record.get(key)) for key in extra)])
    return buffer.getvalue()


def write_question_csv(run_dir: str | Path, rows: Sequence[QuestionRow], step: int | str) -> Path:
    """Write ``<run_dir>/questions.csv`` atomically (replacing an earlier evaluation's)."""
    path = Path(run_dir) / QUESTIONS_CSV
    atomic_write_text(path, question_csv_text(rows, step))
    return path
