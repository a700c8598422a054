"""What an evaluation hands the loggers: series with counts and intervals, constants apart,
and a per-question table with every scheduled attack's columns (a recording logger)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from unpact_exp.evaluation.evaluator import EvaluationResult
from unpact_exp.evaluation.rows import BASE_FIELDS, AttackCell, QuestionRow, declared_columns
from unpact_exp.evaluation.writing import logged_values, write_evaluation
from unpact_exp.results import RunRecord

METRICS = {
    "forget_rate": 0.5,
    "forget_rate_counts": [2, 4],
    "forget_rate_ci": [0.15, 0.85],
    "recovery_rate": float("nan"),
    "recovery_rate_counts": [0, 0],
    "recovery_rate_ci": None,  # no interval over nothing
    "focus_on_key_budget_prompts_per_question": 1.0,
    "utility_original": 0.9,
    "utility_original_counts": [9, 10],
    "utility_original_ci": [0.6, 0.98],
    "focus_vs_probab_discordant": [1, 0],  # a pair, but neither counts nor an interval
    "status_flag": True,
}


def test_rates_carry_counts_and_intervals_and_constants_stand_apart() -> None:
    series, constants = logged_values(METRICS)
    assert series == {
        "forget_rate": 0.5,
        "forget_rate_k": 2,
        "forget_rate_n": 4,
        "forget_rate_ci_low": 0.15,
        "forget_rate_ci_high": 0.85,
        "recovery_rate": series["recovery_rate"],
        "recovery_rate_k": 0,
        "recovery_rate_n": 0,
    }
    assert math.isnan(series["recovery_rate"])
    assert constants == {
        "focus_on_key_budget_prompts_per_question": 1.0,
        "utility_original": 0.9,
        "utility_original_k": 9,
        "utility_original_n": 10,
        "utility_original_ci_low": 0.6,
        "utility_original_ci_high": 0.98,
    }


class Focus:
    column, extra_columns = "focus", {"focus_keys": "", "focus_prompts": []}


class Relearn:
    column, extra_columns = "relearn", {}


class Recorder:
    """A Lightning-style logger that records what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.calls.append(("metrics", (metrics, step)))

    def log_hyperparams(self, params: dict[str, Any]) -> None:
        self.calls.append(("hyperparams", params))

    def log_table(self, key: str, columns: list[str], data: list[list[Any]], step: int) -> None:
        self.calls.append(("table", (key, columns, data, step)))

    def log_image(self, key: str, images: list[str], step: int) -> None:
        self.calls.append(("image", key))


def _row() -> QuestionRow:
    row = QuestionRow(
        *("qa", 0, "Capital of X?", "Y", "Y", "Z", True, True),
        *(["X"], [], 0.0, 0.1, ["X"], [1.0], [0.2]),
    )
    row.attacks["focus"] = AttackCell(True, ["Y"], {"focus_keys": "X", "focus_prompts": ["p"]})
    return row


def test_the_table_has_every_scheduled_attacks_columns(tmp_path: Path) -> None:
    columns = declared_columns([Focus, Relearn])
    assert columns == [
        "focus_keys",
        "focus_prompts",
        "recovered_focus",
        "focus_answers",
        "recovered_relearn",
        "relearn_answers",
    ]
    result = EvaluationResult(METRICS, [_row()], attack_columns=columns)
    logger = Recorder()
    record = RunRecord(tmp_path, {})
    write_evaluation(tmp_path, record, 4, result, [logger], heatmap_questions=0, title="t")
    kinds = [kind for kind, _ in logger.calls]
    assert kinds == ["metrics", "hyperparams", "table"]
    metrics, step = logger.calls[0][1]
    assert step == 4 and metrics["eval/forget_rate_k"] == 2 and metrics["eval/forget_rate_n"] == 4
    assert not [k for k in metrics if "_budget_" in k or "_original" in k]
    assert logger.calls[1][1] == {"constants": logged_values(METRICS)[1]}
    key, header, data, _ = logger.calls[2][1]
    assert key == "eval/questions" and header == [*BASE_FIELDS, *columns]
    cells = dict(zip(header, data[0]))
    assert cells["recovered_focus"] is True and cells["focus_prompts"] == "p"
    assert cells["recovered_relearn"] is None  # relearn did not run at this step: empty
    assert record.data["eval"]["4"]["forget_rate_counts"] == [2, 4]  # results.json keeps pairs
