"""``questions.csv``: one line per forget question of an evaluation, for reading examples.

The rates say how often recovery worked; this table shows *what* happened on each question:
the gold answer, M0's and M1's answers, both KeyToken sets, the FocusOnKey prompts and answers,
the PROBAB samples and whether each attack recovered the answer, and the question's UNPACT units
with M0's and M1's contributions (so the KeyToken thresholds can be re-tuned afterwards without
re-scoring: :mod:`unpact_exp.evaluation.threshold_grid`). It opens in any spreadsheet.
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

from unpact_exp.results import atomic_write_text

QUESTIONS_CSV = "questions.csv"

# (CSV header, EvaluationResult row key), in reading order.
QUESTION_COLUMNS = (
    ("step", None),
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
    ("focus_keys", "focus_keys"),
    ("focus_prompts", "focus_prompts"),
    ("focus_answers", "focus_answers"),
    ("recovered_focus", "recovered_focus"),
    ("probab_samples", "probab_answers"),
    ("recovered_probab", "recovered_probab"),
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


def question_csv_text(rows: Sequence[dict[str, Any]], step: int | str) -> str:
    """The CSV text of ``rows`` (``EvaluationResult.rows``), every line tagged with ``step``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([header for header, _ in QUESTION_COLUMNS])
    for row in rows:
        writer.writerow(
            [step if key is None else _cell(row.get(key)) for _, key in QUESTION_COLUMNS]
        )
    return buffer.getvalue()


def write_question_csv(
    run_dir: str | Path, rows: Sequence[dict[str, Any]], step: int | str
) -> Path:
    """Write ``<run_dir>/questions.csv`` atomically (replacing an earlier evaluation's)."""
    path = Path(run_dir) / QUESTIONS_CSV
    atomic_write_text(path, question_csv_text(rows, step))
    return path
