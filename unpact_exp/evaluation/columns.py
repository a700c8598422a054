"""What an evaluation output is, declared once: its key, its kind and its report header.

The evaluation's own quantities (forget rate, destructive rate, similarities, ...) are
declared here; every attack and every metric declares its own beside its code. The report
builds its tables from these declarations, so adding an attack or a metric needs no edit
of the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "rate", "score", "similarity", "auc", "unit", "pvalue", "relative", "count", "difference"
]
"""How a value is stored and shown: ``rate`` a fraction with counts and an interval (shown
x100), ``score`` on 0-100, ``similarity``/``auc``/``unit`` on 0-1 (three decimals; ``unit``
for any other 0-1 number, e.g. TOFU's probabilities), ``pvalue`` a p-value (three significant
digits, since forget quality spans 1e-20 to 1), ``relative`` a signed percentage, ``count`` a
plain number, ``difference`` a signed difference of two fractions (shown x100, in points)."""


@dataclass(frozen=True)
class Column:
    """One quantity of ``results.json`` as the report shows it.

    Attributes:
        key: the key in ``results.json`` (and the CSV column name).
        header: the markdown header, with its unit.
        kind: see :data:`Kind`.
    """

    key: str
    header: str
    kind: Kind


CORE_COLUMNS = (
    Column("forget_rate", "forget rate (%)", "rate"),
    Column("destructive_rate", "destructive rate (%)", "rate"),
    Column("keytoken_similarity", "keytoken similarity (0-1)", "similarity"),
    Column("utility", "utility (%)", "rate"),
    Column("keytoken_similarity_forgotten", "keytoken sim. forgotten (0-1)", "similarity"),
    Column("keytoken_similarity_retained", "keytoken sim. retained (0-1)", "similarity"),
    Column("contribution_similarity", "contribution similarity (0-1)", "similarity"),
    Column("contribution_similarity_forgotten", "contribution sim. forgotten (0-1)", "similarity"),
    Column("contribution_similarity_retained", "contribution sim. retained (0-1)", "similarity"),
    Column("prompt_ignorance", "prompt ignorance (%)", "rate"),
    Column("n_forgotten", "n forgotten", "count"),
    Column("n_known", "n known", "count"),
    Column("unstable_known", "unstable known (%)", "rate"),
    Column("gold_in_question", "gold in question", "count"),
    Column("m1_never_known_accuracy", "M1 on never-known (%)", "rate"),
    Column("focus_on_key_excess", "FocusOnKey excess (points)", "difference"),
    Column("mc_known", "likelihood known", "count"),
    Column("mc_forget_rate", "likelihood forget rate (%)", "rate"),
    Column("mc_recovery_rate", "likelihood FocusOnKey recovery (%)", "rate"),
)
"""The evaluation's own quantities (docs/science.md §3 and §5)."""
