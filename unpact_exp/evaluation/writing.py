"""Where one evaluation goes: ``results.json``, the per-question tables, the heatmap, loggers.

The training callback (at every evaluation step) and ``eval.py`` (once) write an
evaluation the same way, through :func:`write_evaluation`: the metrics into the run's
record under their step, the rows into ``questions.csv`` and ``questions.jsonl`` (the
latest evaluation's), the contribution heatmap into ``plots/``, and to every logger:

- the series (:func:`logged_values`): every measured scalar under ``eval/``, and beside each
  rate ``r`` its counts ``eval/r_k``, ``eval/r_n`` and its 95% interval ``eval/r_ci_low``,
  ``eval/r_ci_high`` (W&B keeps numbers only; ``results.json`` keeps the pairs);
- the constants, once per evaluation into the run's hyperparameters (W&B: its config, under
  ``constants``), never as series: the attacks' budgets (``<attack>_budget_<what>``) and M0's
  baselines (``*_original``), which no step of M1 changes;
- the per-question table with every column of every attack the run schedules (empty where an
  attack did not run at this step), and the heatmap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.evaluator import EvaluationResult
from unpact_exp.evaluation.heatmap import heatmap_data, plot_heatmaps
from unpact_exp.evaluation.question_table import write_question_csv
from unpact_exp.results import RunRecord, atomic_write_text, is_number

QUESTIONS_JSONL = "questions.jsonl"


def heatmap_path(run_dir: Path, step: int | str) -> Path:
    """``plots/contributions_step000010.png`` (``contributions_final.png`` for eval.py)."""
    name = f"step{step:06d}" if isinstance(step, int) else str(step)
    return run_dir / "plots" / f"contributions_{name}.png"


def write_evaluation(
    run_dir: str | Path,
    record: RunRecord,
    step: int | str,
    result: EvaluationResult,
    loggers: list[Any],
    heatmap_questions: int,
    title: str,
) -> None:
    """Record and log one evaluation (rank 0 only).

    Args:
        run_dir: the run folder.
        record: the run's ``results.json`` record; the metrics go in under ``step``.
        step: the training step, or ``"final"`` for ``eval.py``.
        result: what :meth:`~unpact_exp.evaluation.evaluator.Evaluator.evaluate` returned.
        loggers: Lightning loggers (W&B gets the table and the heatmap too).
        heatmap_questions: forget questions drawn in the heatmap (0: none).
        title: the heatmap's title.
    """
    run_dir = Path(run_dir)
    record.add_eval(step, result.metrics)
    write_question_csv(run_dir, result.rows, step)
    lines = "".join(json.dumps(r, default=str) + "\n" for r in result.records())
    atomic_write_text(run_dir / QUESTIONS_JSONL, lines)
    heatmap = None
    maps = heatmap_data(result.rows, heatmap_questions) if heatmap_questions > 0 else []
    if maps:
        heatmap = plot_heatmaps(maps, heatmap_path(run_dir, step), title)
    log_step = step if isinstance(step, int) else 0
    series, constants = logged_values(result.metrics)
    scalars = {f"eval/{k}": v for k, v in series.items()}
    columns = result.table_columns()
    table = [[_cell(r.get(c)) for c in columns] for r in result.records()]
    for logger in loggers:
        logger.log_metrics(scalars, step=log_step)
        if constants:
            logger.log_hyperparams({"constants": constants})
        if hasattr(logger, "log_table"):
            logger.log_table(key="eval/questions", columns=columns, data=table, step=log_step)
            if heatmap is not None:
                logger.log_image(key="eval/contributions", images=[str(heatmap)], step=log_step)


def _cell(value: Any) -> Any:
    """W&B table cells: lists become readable strings."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value


def is_constant(key: str) -> bool:
    """Whether a metric is fixed for the run: an attack's budget or one of M0's baselines."""
    base = key.removesuffix("_counts").removesuffix("_ci")
    return "_budget_" in base or base.endswith("_original")


def logged_values(metrics: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
    """``(series, constants)``: the numbers of an evaluation as loggers take them.

    A number stays as it is; ``r_counts: [k, n]`` becomes ``r_k`` and ``r_n``; ``r_ci:
    [low, high]`` becomes ``r_ci_low`` and ``r_ci_high`` (left out when there is no interval);
    other values (flags, text, other lists) are left out. Budgets and M0's baselines
    (:func:`is_constant`) go to ``constants``, everything else to ``series``.
    """
    series: dict[str, float] = {}
    constants: dict[str, float] = {}
    for key, value in metrics.items():
        found: dict[str, Any] = {}
        if is_number(value):
            found[key] = value
        elif _number_pair(value) and key.endswith("_counts"):
            base = key.removesuffix("_counts")
            found = {f"{base}_k": value[0], f"{base}_n": value[1]}
        elif _number_pair(value) and key.endswith("_ci"):
            found = {f"{key}_low": value[0], f"{key}_high": value[1]}
        (constants if is_constant(key) else series).update(found)
    return series, constants


def _number_pair(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2 and all(map(is_number, value))
