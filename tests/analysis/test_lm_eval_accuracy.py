"""lm-eval's own ``simple_evaluate`` and the framework's MC path agree on the same items.

The framework scores WMDP/MMLU items itself (for UNPACT, FocusOnKey and PROBAB), and
reports lm-eval's accuracy beside it; both must be one number. The gold answers of the
fixture are set from the framework's predictions (right on even items, wrong on odd ones),
so the accuracy is strictly between 0 and 1 and any disagreement on an item shows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from unpact_exp.analysis.correctness import mc_predictions
from unpact_exp.analysis.lm_eval_accuracy import (
    check_tasks,
    installed_task_config,
    lm_eval_correct,
    lm_eval_counts,
)
from unpact_exp.data.schema import MCItem
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.models.prompt import MC_TARGET_DELIMITER, mc_description

QUESTIONS = [
    ("Where was Alice Smith born?", ("Paris", "Rome", "France", "Jones")),
    ("Who is the mother of Bob Jones?", ("Carol White", "Alice", "Dan Brown", "fox")),
    ("What does Dan Brown do for work?", ("baker", "river", "fox", "dog")),
    ("Which city is the capital of France?", ("Rome", "Paris", "bank", "lazy")),
    (" Where was Bob Jones born? ", ("Rome", "Paris", "river", "Carol")),
    ("What does Alice Smith do for work?", ("baker", "fox", "Paris", "words")),
]


def write_jsonl(path: Path, items: list[MCItem], subjects: list[str] | None = None) -> Path:
    """Items as hub-schema rows (question, choices, answer[, subject])."""
    rows = [dict(question=i.question, choices=list(i.choices), answer=i.answer) for i in items]
    if subjects is not None:
        rows = [dict(row, subject=s) for row, s in zip(rows, subjects)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def half_right(model, tokenizer, prompt_format, items: list[MCItem]) -> list[MCItem]:
    """The items with gold = the framework's prediction on even items, another letter on odd."""
    predicted = mc_predictions(model, tokenizer, prompt_format, items, 4)
    return [
        replace(item, answer=p if k % 2 == 0 else (p + 1) % len(item.choices))
        for k, (item, p) in enumerate(zip(items, predicted))
    ]


def test_prompt_text_is_lm_evals(prompt_format):
    """description + doc_to_text of the installed wmdp_bio / mmlu YAML, and its delimiter."""
    item = MCItem(" Which virus? ", ("a", "b", "c", "d"), 2, "biology")
    bio = installed_task_config("wmdp/wmdp_bio.yaml")
    doc = dict(question=item.question, choices=list(item.choices), answer=item.answer)
    text = bio["description"] + jinja2.Template(bio["doc_to_text"]).render(**doc)
    parts = prompt_format.mc_parts(item)
    assert parts.text == text
    assert parts.question == "Which virus?"  # UNPACT's span: the question, stripped as lm-eval
    assert bio.get("target_delimiter", " ") == MC_TARGET_DELIMITER == prompt_format.mc_answer_prefix
    physics = installed_task_config("mmlu/default/mmlu_high_school_physics.yaml")
    assert physics["description"] == mc_description("high school physics")
    assert bio["doc_to_choice"] == ["A", "B", "C", "D"]


@pytest.mark.parametrize("seed", [0, 3])
def test_wmdp_accuracy_equals_lm_eval(tmp_path, tiny_factory, tokenizer, prompt_format, seed):
    model = tiny_factory(seed)
    items = [MCItem(q, c, 0, "biology") for q, c in QUESTIONS]
    items = half_right(model, tokenizer, prompt_format, items)
    ours = [
        p == item.answer
        for p, item in zip(mc_predictions(model, tokenizer, prompt_format, items, 4), items)
    ]
    assert ours == [True, False] * 3
    files = {"wmdp_bio": str(write_jsonl(tmp_path / "bio.jsonl", items))}
    theirs = lm_eval_correct(model, tokenizer, ["wmdp_bio"], files, None, 4)
    assert theirs == {"wmdp_bio": ours}
    assert lm_eval_counts(model, tokenizer, ["wmdp_bio"], files, 4, 4) == {"wmdp_bio": (2, 4)}


def test_mmlu_accuracy_pools_subjects_as_lm_eval(tmp_path, tiny_llama, tokenizer, prompt_format):
    """Each subject gets its own description line; accuracy is correct / all items."""
    subjects = ["anatomy", "anatomy", "high_school_physics", "virology", "virology", "anatomy"]
    items = [MCItem(q, c, 0, s.replace("_", " ")) for (q, c), s in zip(QUESTIONS, subjects)]
    items = half_right(tiny_llama, tokenizer, prompt_format, items)
    files = {"mmlu": str(write_jsonl(tmp_path / "mmlu.jsonl", items, subjects))}
    counts = lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], files, None, 8)
    assert counts == {"mmlu": (3, 6)}
    # limit is per subject, as lm-eval's: at most 1 of anatomy's 3, 1 of virology's 2.
    assert lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], files, 1, 8)["mmlu"][1] == 3


def test_bad_task_and_missing_file_are_refused(tiny_llama, tokenizer, tmp_path):
    with pytest.raises(UnpactConfigError, match=r"'wmdp_chemistry'.*wmdp_bio"):
        check_tasks(["wmdp_chemistry"], {})
    with pytest.raises(DataError, match="data_files.wmdp_bio="):
        lm_eval_counts(tiny_llama, tokenizer, ["wmdp_bio"], {"wmdp_bio": "nope.jsonl"}, None, 4)
    rows = tmp_path / "mmlu.jsonl"
    write_jsonl(rows, [MCItem("q?", ("a", "b", "c", "d"), 0)], ["cooking"])
    with pytest.raises(DataError, match="'cooking'"):
        lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], {"mmlu": str(rows)}, None, 4)
