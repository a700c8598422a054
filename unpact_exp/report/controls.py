"""The controls table: is FocusOnKey's recovery more than re-asking? (docs/science.md §9).

One row per setting: the forget rate from several asks with the unstable questions it leaves
out, FocusOnKey's recovery, the same-budget controls on the same forgotten questions, the
excess over the strongest control with its paired 95% interval, M0's own lift on the
questions it never knew, and the likelihood labels. Rates are pooled over the row's runs
like the main table's. The excess is paired question by question within a run, so a row of
one run shows the run's interval; a row of several runs shows the mean excess and each run's
value (their intervals are in each run's ``results.json``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from unpact_exp.report.table import MISSING, Row, declared_columns, metric_cell, row_label

CONTROL_KEYS = (
    "forget_rate",
    "unstable_known",
    "recovery_rate",
    "probab_recovery_rate",
    "focus_on_random_rate",
    "focus_on_neutral_rate",
    "reask_rate",
)
AFTER_EXCESS = ("focus_on_key_m0_self_rate", "mc_forget_rate", "mc_recovery_rate")
EXCESS_HEADER = "FocusOnKey excess over the strongest control (points)"
TEXT = (
    "Forget rate: known (M0 right on every neutral ask) and forgotten (M1 wrong on every "
    "ask); unstable known: questions M0 answers on some asks only, left out of every rate. "
    "The controls spend FocusOnKey's budget on the same forgotten questions (random words: "
    "recovered draws / draws). The excess is FocusOnKey's recovery minus the strongest "
    "control's on the questions both attacked, in points, with its paired 95% interval "
    "(docs/science.md §10); an interval holding 0 means the KeyTokens did no better than "
    "re-asking. FocusOnKey on M0: the template's own lift on the questions M0 never knew. "
    "Likelihood: the gold outranks every distractor (no judge)."
)


def _final(run: Any) -> dict[str, Any]:
    """The run's final evaluation as stored (strings and intervals included)."""
    return (run.results.get("eval") or {}).get(str(run.final_step), {})


def excess_cell(row: Row) -> str:
    """``+x [low, high] vs <control>`` for one run; the mean and each run's value for several."""
    found = [_final(r) for r in row.runs]
    values = [f.get("focus_on_key_excess") for f in found]
    if not any(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return MISSING
    if len(found) == 1:
        ci = found[0].get("focus_on_key_excess_ci") or [math.nan, math.nan]
        name = found[0].get("strongest_control") or "?"
        return f"{100 * values[0]:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] vs {name}"
    numbers = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    mean = sum(numbers) / len(numbers)
    each = ", ".join(f"{100 * v:+.1f}" for v in numbers)
    names = "/".join(sorted({str(f.get("strongest_control")) for f in found}))
    return f"{100 * mean:+.1f} (runs: {each}) vs {names}"


def controls_table(rows: Sequence[Row]) -> str | None:
    """The table, or None when no run reported a control."""
    if not any("focus_on_key_excess" in _final(r) for row in rows for r in row.runs):
        return None
    declared = declared_columns()
    before = [declared[k] for k in CONTROL_KEYS if k in declared]
    after = [declared[k] for k in AFTER_EXCESS if k in declared]
    header = ["setting"] + [c.header for c in before] + [EXCESS_HEADER] + [c.header for c in after]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for row in rows:
        cells = [row_label(row, rows)] + [metric_cell(row, c) for c in before]
        cells += [excess_cell(row)] + [metric_cell(row, c) for c in after]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
