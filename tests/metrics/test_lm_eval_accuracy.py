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
from datasets import ClassLabel, Dataset, Features, List, Value
from omegaconf import OmegaConf

from tests.model_fixtures import make_evaluator
from unpact_exp.data.schema import Benchmark, MCItem
from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.evaluation.multiple_choice import mc_predictions
from unpact_exp.evaluation.statistics import wilson_interval
from unpact_exp.metrics import registry
from unpact_exp.metrics.lm_eval import (
    check_tasks,
    installed_task_config,
    lm_eval_correct,
    lm_eval_counts,
)
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
    # The hub ships parquet (answer a ClassLabel A-D): the same rows, the same counts.
    parquet = str(tmp_path / "test-00000-of-00001.parquet")
    features = Features(
        question=Value("string"),
        subject=Value("string"),
        choices=List(Value("string")),
        answer=ClassLabel(names=list("ABCD")),
    )
    rows = [json.loads(line) for line in Path(files["mmlu"]).read_text().splitlines()]
    Dataset.from_list(rows, features=features).to_parquet(parquet)
    assert lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], {"mmlu": parquet}, None, 8) == counts
    # limit is per subject, as lm-eval's: at most 1 of anatomy's 3, 1 of virology's 2.
    assert lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], files, 1, 8)["mmlu"][1] == 3


def test_bad_task_and_missing_file_are_refused(tiny_llama, tokenizer, tmp_path):
    with pytest.raises(UnpactConfigError, match=r"'wmdp_chemistry'.*wmdp_bio"):
        check_tasks(["wmdp_chemistry"], {})
    with pytest.raises(DataError, match="data_files.wmdp_bio="):
        lm_eval_counts(tiny_llama, tokenizer, ["wmdp_bio"], {"wmdp_bio": "nope.jsonl"}, None, 4)
    three = write_jsonl(tmp_path / "three.jsonl", [MCItem("q?", ("a", "b", "c"), 0)])
    with pytest.raises(DataError, match="row 0 of .*three.jsonl has 3 choices"):
        lm_eval_counts(tiny_llama, tokenizer, ["wmdp_bio"], {"wmdp_bio": str(three)}, None, 4)
    rows = tmp_path / "mmlu.jsonl"
    write_jsonl(rows, [MCItem("q?", ("a", "b", "c", "d"), 0)], ["cooking"])
    with pytest.raises(DataError, match="'cooking'"):
        lm_eval_counts(tiny_llama, tokenizer, ["mmlu"], {"mmlu": str(rows)}, None, 4)


def test_config_is_off_by_default_and_on_in_wmdp_paper(make_cfg):
    default = make_cfg()
    assert OmegaConf.to_container(default.metrics.lm_eval) == {
        "tasks": [],
        "limit": None,
        "batch_size": 8,
        "data_files": {"wmdp_bio": None, "wmdp_cyber": None, "mmlu": None},
    }
    assert not registry.build("lm_eval", default).applies(Benchmark(name="any"))
    paper = make_cfg(
        "data=wmdp_bio",  # data=: no synthetic sizes
        "experiment=wmdp_paper",
        "metrics.lm_eval.data_files.mmlu=/snapshots/mmlu/all/test-00000-of-00001.parquet",
    )
    assert (paper.data.name, paper.method.name) == ("wmdp_bio", "rmu")
    config = registry.build("lm_eval", paper)
    assert config.tasks == ("wmdp_bio", "wmdp_cyber", "mmlu")
    assert config.limit is None  # full test sets, as published
    assert config.data_files == {
        "wmdp_bio": None,
        "wmdp_cyber": None,
        "mmlu": "/snapshots/mmlu/all/test-00000-of-00001.parquet",
    }


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("tasks", ["mmlu_pro"], r"tasks names 'mmlu_pro'; choose from \['mmlu'"),
        ("tasks", "mmlu", r"tasks='mmlu' is not valid; it must be a list"),
        ("limit", 0, r"limit=0 is out of range; it must be >= 1"),
        ("limit", -2, r"limit=-2 is out of range"),
        ("batch_size", 0, r"batch_size=0 is out of range"),
        ("data_files", {"wmdp": "x.jsonl"}, r"data_files names 'wmdp'"),
    ],
)
def test_bad_lm_eval_knobs_are_refused(key, value, message):
    node = {"tasks": ["wmdp_bio"], "limit": None, "batch_size": 8, "data_files": {}, key: value}
    with pytest.raises(UnpactConfigError, match=rf"metrics\.lm_eval\.{message}"):
        registry.build("lm_eval", OmegaConf.create({"metrics": {"lm_eval": node}}))


def test_pair_analysis_reports_lm_eval_beside_its_own_mc_accuracy(
    tmp_path, cfg, tiny_factory, tokenizer, prompt_format
):
    """M0 and M1 on the same WMDP items: lm-eval's accuracy equals the framework's."""
    m0, m1 = tiny_factory(0), tiny_factory(3)
    items = half_right(
        m0, tokenizer, prompt_format, [MCItem(q, c, 0, "biology") for q, c in QUESTIONS]
    )
    bench = Benchmark(name="wmdp_fixture", mc_forget=items, utility_mc=items[:2])
    root = OmegaConf.merge(cfg, {"eval": {"batch_size": 8, "rate_items": "mc"}})
    root.metrics.lm_eval = {
        "tasks": ["wmdp_bio"],
        "limit": None,
        "batch_size": 4,
        "data_files": {"wmdp_bio": str(write_jsonl(tmp_path / "bio.jsonl", items))},
    }
    analysis = make_evaluator(m0, tokenizer, prompt_format, bench, root)
    metrics = analysis.evaluate(m1).metrics
    assert metrics["lm_eval_wmdp_bio_acc_original_counts"] == [3, 6]
    m1_right = sum(
        p == i.answer for p, i in zip(mc_predictions(m1, tokenizer, prompt_format, items, 4), items)
    )
    assert metrics["lm_eval_wmdp_bio_acc_counts"] == [m1_right, 6]
    assert metrics["lm_eval_wmdp_bio_acc"] == pytest.approx(m1_right / 6)
    assert metrics["mc_forget_acc_counts"] == metrics["lm_eval_wmdp_bio_acc_counts"]
    low, high = metrics["lm_eval_wmdp_bio_acc_ci"]
    assert low < m1_right / 6 < high or m1_right in (0, 6)
    assert metrics["lm_eval_wmdp_bio_acc_original_ci"] == pytest.approx(list(wilson_interval(3, 6)))


def test_a_bad_lm_eval_task_fails_before_any_model_work(make_cfg):
    from unpact_exp.stages.unlearn import validate

    with pytest.raises(UnpactConfigError, match="'wmdp'"):
        validate(make_cfg("metrics.lm_eval.tasks=[wmdp]"))


def test_lm_eval_leaves_the_random_generators_as_found(tmp_path, tiny_llama, tokenizer):
    """simple_evaluate seeds random, numpy and torch; training must not see that."""
    import random

    import numpy as np
    import torch

    files = {
        "wmdp_bio": str(
            write_jsonl(tmp_path / "bio.jsonl", [MCItem("q?", ("a", "b", "c", "d"), 0)])
        )
    }
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    lm_eval_counts(tiny_llama, tokenizer, ["wmdp_bio"], files, None, 4)
    after = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    assert after == (random.random(), float(np.random.rand()), float(torch.rand(())))
