"""Where one evaluation goes: ``results.json``, the per-question tables, the heatmap, loggers.

The training callback (at every evaluation step) and ``eval.py`` (once) write an
evaluation the same way, through :func:`write_evaluation`: the metrics into the run's
record under their step, the rows into ``questions.csv`` and ``questions.jsonl`` (the
latest evaluation's), the contribution heatmap into ``plots/``, and the scalars, the
per-question table (every column, attack columns included) and the heatmap to every logger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.evaluator import EvaluationResult
from unpact_exp.evaluation.heatmap import heatmap_data, plot_heatmaps
from unpact_exp.evaluation.question_table import write_question_csv
from unpact_exp.evaluation.rows import BASE_FIELDS, attack_columns
from unpact_exp.results import RunRecord, atomic_write_text

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
    scalars = {f"eval/{k}": v for k, v in result.scalars().items()}
    columns = list(BASE_FIELDS) + attack_columns(result.rows)
    table = [[_cell(r.get(c)) for c in columns] for r in result.records()]
    for logger in loggers:
        logger.log_metrics(scalars, step=log_step)
        if hasattr(logger, "log_table"):
            logger.log_table(key="eval/questions", columns=columns, data=table, step=log_step)
            if heatmap is not None:
                logger.log_image(key="eval/contributions", images=[str(heatmap)], step=log_step)


def _cell(value: Any) -> Any:
    """W&B table cells: lists become readable strings."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return value
