"""Rates of attacks, and FocusOnKey against every same-budget control on the same questions.

An attack's rate is a ratio of counts over the questions it attacked (recovered / attacked,
docs/science.md §9); its per-attempt rate divides the correct answers by the answers tried,
so attacks of different budgets can be read side by side.

FocusOnKey and a control (PROBAB, and the controls of docs/science.md §13) are judged on the
*same* forgotten questions, so their comparison is paired: only the questions where exactly
one of them recovers the answer (the discordant pairs) carry information, tested with the
exact McNemar test. Keys, per control with report column ``c``:
``focus_vs_<c>_discordant`` ``[FocusOnKey only, control only]`` and
``focus_vs_<c>_mcnemar_p``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from unpact_exp.evaluation import statistics
from unpact_exp.evaluation.attacking import Attack, Outcome

Outcomes = dict[int, Outcome]
"""Question position (in the evaluation's rows) -> an attack's outcome on it."""

HEADLINE = "focus_on_key"


def rate_metrics(rate: str, outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """``rate`` (recovered / attacked) and ``<rate>_per_attempt`` (correct / answers tried)."""
    attacked = [o for o in outcomes if o.attacked]
    recovered = sum(bool(o.recovered) for o in attacked)
    correct = sum(sum(o.hits) for o in attacked)
    tried = sum(len(o.hits) for o in attacked)
    entry = statistics.rate_entry(rate, recovered, len(attacked))
    return entry | statistics.rate_entry(f"{rate}_per_attempt", correct, tried)


def focus_on_key_against_controls(
    runs: Mapping[str, tuple[Attack, Outcomes]],
) -> dict[str, Any]:
    """FocusOnKey against each control that ran on the same questions (module docstring)."""
    if HEADLINE not in runs:
        return {}
    _, focus = runs[HEADLINE]
    metrics: dict[str, Any] = {}
    for attack, outcomes in runs.values():
        if not attack.control:
            continue
        shared = [q for q in focus if q in outcomes and focus[q].attacked and outcomes[q].attacked]
        first = [bool(focus[q].recovered) for q in shared]
        second = [bool(outcomes[q].recovered) for q in shared]
        b, c = statistics.discordant_pairs(first, second, [True] * len(shared))
        metrics[f"focus_vs_{attack.column}_discordant"] = [b, c]
        metrics[f"focus_vs_{attack.column}_mcnemar_p"] = statistics.mcnemar_exact_p(b, c)
    return metrics
