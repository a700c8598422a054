"""The few lines a run ends with: its key rates at the final step, and where its files are.

A run used to end by printing the path of ``results.json`` alone: a user of a batch job
then had to open a 20 kB JSON file to learn whether anything was forgotten. The summary
reads the final evaluation of ``results.json`` (whichever of the headline keys it holds)
and shows each rate with its counts and 95% interval, the convention every rate follows
there (``<rate>``, ``<rate>_counts: [k, n]``, ``<rate>_ci: [low, high]``;
:mod:`unpact_exp.evaluation.statistics`)::

    run completed: ga on tiny/synthetic, final evaluation at step 4
      forget_rate                    50.0%  (9/18)  95% CI 29.0-71.0%
      recovery_rate (FocusOnKey)     11.1%  (1/9)  95% CI 2.0-43.5%
      focus_on_key_excess            -11.1 points  95% CI -46.5 to +27.6, against probab (...)
      destructive_rate               8.2%  (4/49)  95% CI 3.2-19.2%
      ...
    files:
      run dir         outputs/2026-12-04/19-28-36
      results.json    outputs/2026-12-04/19-28-36/results.json
      ...

The same formatting gives the one-line headline logged after each evaluation
(:func:`headline`). Pure functions over the ``results.json`` dict and the folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unpact_exp.results import RESULTS_FILE, is_number

RATES: tuple[tuple[str, str], ...] = (
    ("forget_rate", "forget_rate"),
    ("recovery_rate", "recovery_rate (FocusOnKey)"),
    ("destructive_rate", "destructive_rate"),
    ("utility", "utility"),
    ("mc_forget_rate", "mc_forget_rate (likelihood)"),
    ("mc_recovery_rate", "mc_recovery_rate (likelihood)"),
)
"""The headline rates, in the order shown, with their labels (each shown when present)."""
EXCESS = "focus_on_key_excess"
TARGET_RATES = ("forget_correct_rate", "retain_correct_rate", "general_correct_rate")
"""What a target build reports (correct rates without counts)."""
FILES: tuple[tuple[str, str], ...] = (
    ("results.json", RESULTS_FILE),
    ("questions.csv", "questions.csv"),
    ("questions.jsonl", "questions.jsonl"),
    ("plots", "plots"),
    ("unlearned model", "unlearned"),
)
"""The files of a run folder the summary points to, when they exist (and its ``*.log``)."""
_WIDTH = 31


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _known(value: Any) -> bool:
    return is_number(value) and math.isfinite(value)


def rate_text(metrics: Mapping[str, Any], key: str) -> str | None:
    """``50.0%  (9/18)  95% CI 29.0-71.0%`` for the rate ``key``; None when it is absent.

    A rate over nothing (stored as null with counts ``[0, n=0]``) reads ``n/a  (0/0)``.
    """
    if key not in metrics:
        return None
    value = metrics[key]
    text = _percent(value) if _known(value) else "n/a"
    counts = metrics.get(f"{key}_counts")
    if isinstance(counts, list | tuple) and len(counts) == 2:
        text += f"  ({int(counts[0])}/{int(counts[1])})"
    ci = metrics.get(f"{key}_ci")
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(_known(v) for v in ci):
        text += f"  95% CI {100 * ci[0]:.1f}-{_percent(ci[1])}"
    return text


def excess_text(metrics: Mapping[str, Any]) -> str | None:
    """FocusOnKey's recovery minus the strongest same-budget control's, in points, with
    its interval and the control's name; None when it was not measured."""
    value = metrics.get(EXCESS)
    if EXCESS not in metrics:
        return None
    control = metrics.get("strongest_control")
    if not _known(value) or not control:
        return "n/a  (no forgotten question attacked by FocusOnKey and a control)"
    text = f"{100 * value:+.1f} points"
    ci = metrics.get(f"{EXCESS}_ci")
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(_known(v) for v in ci):
        text += f"  95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}"
    return text + f", against {control} (the strongest control)"


def rate_lines(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, text)`` per headline rate present in ``metrics``, the excess after recovery."""
    lines: list[tuple[str, str]] = []
    for key, name in RATES:
        text = rate_text(metrics, key)
        if text is not None:
            lines.append((name, text))
        if key == "recovery_rate":
            excess = excess_text(metrics)
            if excess is not None:
                lines.append((EXCESS, excess))
    return lines


def headline(metrics: Mapping[str, Any]) -> str:
    """One line: ``forget_rate 50.0% (9/18), recovery_rate 11.1% (1/9), ...`` (no intervals)."""
    parts = []
    for key, _ in RATES[:3]:
        if key in metrics:
            counts = metrics.get(f"{key}_counts")
            value = metrics[key]
            text = f"{key} {_percent(value) if _known(value) else 'n/a'}"
            if isinstance(counts, list | tuple) and len(counts) == 2:
                text += f" ({int(counts[0])}/{int(counts[1])})"
            parts.append(text)
    return ", ".join(parts)


def _title(results: Mapping[str, Any]) -> str:
    status = results.get("status", "finished")
    stage = results.get("stage")
    if stage == "target":
        kind = "retrain oracle" if results.get("without_forget") else "tiny target"
        return f"{kind} built: {results.get('model')}/{results.get('data')}"
    if stage == "eval":
        return f"evaluation {status}: {results.get('unlearned')} against {results.get('original')}"
    what = results.get("setting") or results.get("method")
    subject = f"{what} on " if what else ""
    title = f"run {status}: {subject}{results.get('model')}/{results.get('data')}"
    step = results.get("final_eval_step")
    if step is not None:
        at = f"step {step}" if str(step).lstrip("-").isdigit() else str(step)
        title += f", final evaluation at {at}"
    return title


def _files(results: Mapping[str, Any], run_dir: Path) -> list[tuple[str, str]]:
    files = [("run dir", str(run_dir))]
    for name, relative in FILES:
        path = run_dir / relative
        if not path.exists():
            continue
        if path.is_dir() and name == "plots":
            count = sum(1 for p in path.iterdir() if p.suffix == ".png")
            files.append((name, f"{path} ({count} PNG)"))
        else:
            files.append((name, str(path)))
    files += [("log", str(path)) for path in sorted(run_dir.glob("*.log"))]
    if results.get("target_dir"):
        files.append(("target model", str(results["target_dir"])))
    return files


def run_summary(results: Mapping[str, Any], run_dir: str | Path) -> str:
    """The lines a finished run ends with (module docstring)."""
    run_dir = Path(run_dir)
    lines = [_title(results)]
    step = results.get("final_eval_step")
    metrics = (results.get("eval") or {}).get(str(step)) if step is not None else None
    if isinstance(metrics, Mapping):
        rows = rate_lines(metrics)
    else:
        rows = [(key, _percent(results[key])) for key in TARGET_RATES if _known(results.get(key))]
    if not rows and results.get("stage") != "target":
        rows = [("rates", "none: no evaluation on record (callbacks.evaluation.enabled=false?)")]
    lines += [f"  {name:<{_WIDTH}}{text}" for name, text in rows]
    lines.append("files:")
    lines += [f"  {name:<16}{where}" for name, where in _files(results, run_dir)]
    return "\n".join(lines)
