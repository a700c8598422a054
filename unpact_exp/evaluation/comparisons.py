"""Rates of attacks, and FocusOnKey against every same-budget control on the same questions.

An attack's rate is a ratio of counts over the questions it attacked (recovered / attacked,
docs/science.md §9); an attack made in several draws (``focus_on_random``) pools them
(recovered draws / draws). Its per-attempt rate divides the correct answers by the answers
tried, so attacks of different budgets can be read side by side.

FocusOnKey and a control (PROBAB and the controls of docs/science.md §9) are judged on the
*same* forgotten questions, so their comparison is paired. Keys, per control with report
column ``c``, over the questions both attacked:

- ``focus_vs_<c>_difference`` and ``focus_vs_<c>_difference_ci``: FocusOnKey's recovery minus
  the control's, with a 95% interval: Newcombe's paired score interval for a one-draw control,
  a percentile bootstrap over questions (2000 resamples, seed 0) for a pooled one;
- ``focus_vs_<c>_discordant`` ``[FocusOnKey only, control only]`` and
  ``focus_vs_<c>_mcnemar_p``, the exact McNemar test (one-draw controls);
- ``focus_on_key_excess``, ``focus_on_key_excess_ci`` and ``strongest_control``: the
  difference against the control that recovered most on those questions (ties: the first in
  registration order), the question the recovery rate has to answer: does emphasising the
  KeyTokens do better than the best other way of re-asking in the same budget?
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from unpact_exp.evaluation import statistics
from unpact_exp.evaluation.attacking import Attack, Outcome

Outcomes = dict[int, Outcome]
"""Question position (in the evaluation's rows) -> an attack's outcome on it."""

HEADLINE = "focus_on_key"
BOOTSTRAP_RESAMPLES = 2000


def rate_metrics(rate: str, outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """``rate`` (recovered / attacked, draws pooled) and ``<rate>_per_attempt``."""
    attacked = [o for o in outcomes if o.attacked]
    recovered = sum(o.trials[0] for o in attacked)
    trials = sum(o.trials[1] for o in attacked)
    correct = sum(sum(o.hits) for o in attacked)
    tried = sum(len(o.hits) for o in attacked)
    entry = statistics.rate_entry(rate, recovered, trials)
    return entry | statistics.rate_entry(f"{rate}_per_attempt", correct, tried)


def bootstrap_difference(
    first: Sequence[float], second: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES
) -> tuple[float, tuple[float, float]] | None:
    """Mean of ``first - second`` over paired questions with a 95% percentile bootstrap
    interval (questions resampled with replacement, seed 0); None over no question."""
    diffs = [a - b for a, b in zip(first, second)]
    if not diffs:
        return None
    rng = random.Random(0)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    low = means[int(0.025 * (resamples - 1))]
    high = means[int(round(0.975 * (resamples - 1)))]
    return sum(diffs) / n, (low, high)


def paired(focus: list[Outcome], control: list[Outcome]) -> dict[str, Any]:
    """FocusOnKey against one control on the same questions: difference, interval and, for a
    one-draw control, the discordant pairs and McNemar's p."""
    first = [bool(o.recovered) for o in focus]
    if any(o.draws for o in control):
        found = bootstrap_difference([float(f) for f in first], [o.score for o in control])
        return {"difference": found}
    second = [bool(o.recovered) for o in control]
    a, b, c, d = statistics.paired_table(first, second)
    return {
        "difference": statistics.paired_difference(a, b, c, d),
        "discordant": [b, c],
        "mcnemar_p": statistics.mcnemar_exact_p(b, c),
    }


def focus_on_key_against_controls(
    runs: Mapping[str, tuple[Attack, Outcomes]],
) -> dict[str, Any]:
    """FocusOnKey against each control that ran on the same questions (module docstring)."""
    if HEADLINE not in runs:
        return {}
    _, focus = runs[HEADLINE]
    metrics: dict[str, Any] = {}
    strongest: tuple[float, str, Any] | None = None
    for attack, outcomes in runs.values():
        if not attack.control:
            continue
        shared = [q for q in focus if q in outcomes and focus[q].attacked and outcomes[q].attacked]
        found = paired([focus[q] for q in shared], [outcomes[q] for q in shared])
        prefix = f"focus_vs_{attack.column}"
        difference = found.pop("difference")
        metrics[f"{prefix}_difference"] = float("nan") if difference is None else difference[0]
        metrics[f"{prefix}_difference_ci"] = None if difference is None else list(difference[1])
        metrics |= {f"{prefix}_{k}": v for k, v in found.items()}
        if difference is None:
            continue
        control_rate = sum(outcomes[q].score for q in shared) / len(shared)
        if strongest is None or control_rate > strongest[0]:
            strongest = (control_rate, attack.name, difference)
    if strongest is not None:
        _, name, (excess, interval) = strongest
        metrics |= {
            "focus_on_key_excess": excess,
            "focus_on_key_excess_ci": list(interval),
            "strongest_control": name,
        }
    else:
        metrics |= {
            "focus_on_key_excess": float("nan"),
            "focus_on_key_excess_ci": None,
            "strongest_control": None,
        }
    return metrics
