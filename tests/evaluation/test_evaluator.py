"""The Evaluator end to end on random tiny Llamas and a benchmark built so M0 knows it.

Gold answers are M0's own greedy answers (and M0's own letters), so M0 is correct by
construction on every item except the ones given a nonsense gold.
"""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import HANDMADE, make_evaluator
from unpact_exp.data.schema import Benchmark, MCItem, QAItem
from unpact_exp.evaluation.heatmap import heatmap_data
from unpact_exp.evaluation.multiple_choice import mc_predictions
from unpact_exp.evaluation.rows import BASE_FIELDS
from unpact_exp.unpact.generation import greedy_answers

FORGET = [
    "Where was Alice Smith born?",
    "Who is the mother of Bob Jones?",
    "What does Dan Brown do for work?",
    "Which city is the capital of France?",
]
UTILITY = ["The quick brown fox jumps over the lazy dog?", "Where is the river bank?"]
RETAIN = ["Who is Carol White?", "What is Paris?"]
ICL = [QAItem("Who is Dan Brown?", "a baker in Rome")]
RATES = [
    "forget_rate",
    "recovery_rate",
    "probab_recovery_rate",
    "destructive_rate",
    "utility",
    "keytoken_similarity",
    "contribution_similarity",
    "prompt_ignorance",
    "mc_forget_acc",
    "mc_retain_acc",
]


@pytest.fixture(scope="module")
def root_cfg(cfg):
    # Pool both item kinds, so every group of the handmade benchmark feeds the rates.
    # FocusOnKey and PROBAB only (the other attacks have tests of their own).
    # Golds are M0's random answers to the plain prompt: one ask and ROUGE recall label them
    # (several asks and the strict judge have tests of their own: test_labels.py, judge/).
    attacks = {"every_step": ["focus_on_key", "probab"], "final": []}
    settings = {"max_new_tokens": 6, "batch_size": 8, "rate_items": "both", **HANDMADE}
    return OmegaConf.merge(cfg, {"eval": settings, "attacks": attacks})


def _mc(model, tokenizer, prompt_format, questions):
    items = [MCItem(q, ("Paris", "Rome", "Carol"), 0) for q in questions]
    preds = mc_predictions(model, tokenizer, prompt_format, items, 8)
    return [MCItem(i.question, i.choices, p) for i, p in zip(items, preds)]


@pytest.fixture(scope="module")
def benchmark(tokenizer, prompt_format, tiny_llama, root_cfg):
    def known(questions):
        prompts = [prompt_format.parts(q, icl=ICL) for q in questions]
        answers = greedy_answers(tiny_llama, tokenizer, prompts, 6, root_cfg.eval.stop_strings, 8)
        return [QAItem(q, a) for q, a in zip(questions, answers)]

    return Benchmark(
        name="handmade",
        forget_qa=known(FORGET),
        retain_qa=known(RETAIN),
        icl=ICL,
        retain_icl=ICL,
        utility_qa=known(UTILITY) + [QAItem("Where is Rome?", "zebra zebra zebra")],
        mc_forget=_mc(tiny_llama, tokenizer, prompt_format, FORGET[:2]),
        mc_retain=_mc(tiny_llama, tokenizer, prompt_format, RETAIN[:1]),
        utility_mc=_mc(tiny_llama, tokenizer, prompt_format, UTILITY),
    )


@pytest.fixture(scope="module")
def evaluator(tokenizer, prompt_format, tiny_llama, benchmark, root_cfg):
    return make_evaluator(tiny_llama, tokenizer, prompt_format, benchmark, root_cfg)


@pytest.fixture(scope="module")
def other_model(tiny_factory):
    return tiny_factory(1)


def test_same_model_forgets_nothing(evaluator, tiny_llama):
    result = evaluator.evaluate(tiny_llama)
    m = result.metrics
    assert m["n_forget_questions"] == 6 and m["n_known"] == 6
    assert m["forget_rate"] == 0.0 and m["n_forgotten"] == 0
    assert math.isnan(m["recovery_rate"]) and math.isnan(m["probab_recovery_rate"])
    assert m["destructive_rate"] == 0.0
    # Utility pool: 2 retain_qa + 1 mc_retain + 3 utility_qa (one with a nonsense gold) + 2 MC.
    assert m["n_utility_items"] == 8 and m["n_utility_known"] == 7
    assert m["utility"] == m["utility_original"] == pytest.approx(7 / 8)
    assert m["knowmem_forget"] == m["knowmem_forget_original"] == pytest.approx(100.0)
    assert m["knowmem_retain"] == pytest.approx(100.0)
    assert m["mc_forget_acc"] == 1.0 and m["mc_retain_acc"] == 1.0
    assert m["prompt_ignorance"] == m["prompt_ignorance_original"]
    for row in result.records():
        if row["keytokens_original"]:
            assert row["keytoken_similarity"] == pytest.approx(1.0)
        assert row["keytokens_original"] == row["keytokens_unlearned"]
        assert row["recovered_focus"] is None and row["recovered_probab"] is None


def test_other_model_gives_rates_in_unit_interval(evaluator, other_model):
    result = evaluator.evaluate(other_model)
    m = result.metrics
    assert m["n_forgotten"] > 0
    for key in RATES:
        assert 0.0 <= m[key] <= 1.0, (key, m[key])
    assert 0.0 <= m["knowmem_forget"] <= 100.0
    rows = result.records()
    assert len(rows) == 6 and sum(r["forgotten"] for r in rows) == m["n_forgotten"]
    assert all(set(BASE_FIELDS) <= set(r) for r in rows)  # what the W&B table logs
    for row in rows:
        if row["forgotten"]:
            assert isinstance(row["recovered_focus"], bool)
            assert len(row["probab_answers"]) == len(evaluator.focus_templates)


def test_evaluating_twice_is_identical(evaluator, other_model):
    first, second = evaluator.evaluate(other_model), evaluator.evaluate(other_model)
    assert first.rows == second.rows
    assert first.metrics.keys() == second.metrics.keys()
    for key, value in first.metrics.items():
        assert value == second.metrics[key] or (
            math.isnan(value) and math.isnan(second.metrics[key])
        )


def test_models_are_left_as_found(evaluator, other_model):
    other_model.train()
    other_model.model.layers[0].eval()
    evaluator.evaluate(other_model)
    assert other_model.training and not other_model.model.layers[0].training
    assert other_model.model.layers[1].training
    assert all(p.requires_grad and p.grad is None for p in other_model.parameters())
    other_model.eval()


def test_contribution_matrix_puts_forgotten_first(evaluator, other_model):
    result = evaluator.evaluate(other_model)
    heatmaps = heatmap_data(result.rows, 3)
    assert len(heatmaps) == 3
    flags = [h.forgotten for h in heatmaps]
    assert flags == sorted(flags, reverse=True)
    for h in heatmaps:
        assert len(h.units) == len(h.original) == len(h.unlearned) > 0
        assert set(h.keytokens_original) | set(h.keytokens_unlearned) <= set(h.units)
    chosen = sorted(result.rows, key=lambda r: not r.forgotten)[:3]
    assert [h.keytokens_original for h in heatmaps] == [tuple(r.keytokens_original) for r in chosen]


def test_caps_and_unlearned_keytokens(
    tokenizer, prompt_format, tiny_llama, tiny_factory, benchmark, root_cfg
):
    cfg = OmegaConf.merge(
        root_cfg,
        {
            "eval": {"max_forget_questions": 1, "max_utility_items": 1},
            "focus_on_key": {"keytokens_from": "unlearned"},
            "unpact": {"granularity": "word", "removal": "replace", "target": "reference"},
        },
    )
    evaluator = make_evaluator(tiny_llama, tokenizer, prompt_format, benchmark, cfg)
    m = evaluator.evaluate(tiny_factory(2)).metrics
    assert m["n_forget_questions"] == 2  # first forget_qa item + first mc_forget item
    assert m["n_utility_items"] == 4  # first item of each of the four utility lists
    assert all(0.0 <= m[k] <= 1.0 or math.isnan(m[k]) for k in RATES)


def test_no_grad_required(evaluator, other_model):
    with torch.enable_grad():
        assert isinstance(evaluator.evaluate(other_model).metrics["utility"], float)


def test_auto_rate_items_pool_free_form_when_present(
    tokenizer, prompt_format, tiny_llama, benchmark, root_cfg
):
    """auto: MUSE-like data (free-form forget questions) rates its QA items only; the MC
    lists still get an accuracy. WMDP-like data (MC only) rates its MC items."""
    cfg = OmegaConf.merge(root_cfg, {"eval": {"rate_items": "auto"}})
    ev = make_evaluator(tiny_llama, tokenizer, prompt_format, benchmark, cfg)
    m = ev.evaluate(tiny_llama).metrics
    assert m["n_forget_questions"] == 4  # forget_qa only
    assert m["n_utility_items"] == 5  # retain_qa (2) + utility_qa (3)
    assert m["mc_forget_acc"] == 1.0 and m["mc_retain_acc"] == 1.0
    mc_only = Benchmark(name="mc", mc_forget=benchmark.mc_forget, utility_mc=benchmark.utility_mc)
    m = (
        make_evaluator(tiny_llama, tokenizer, prompt_format, mc_only, cfg)
        .evaluate(tiny_llama)
        .metrics
    )
    assert m["n_forget_questions"] == 2 and m["n_utility_items"] == 2
    assert "knowmem_forget" not in m and "knowmem_retain" not in m


def test_bad_rate_items_names_the_choices(
    tokenizer, prompt_format, tiny_llama, benchmark, root_cfg
):
    from unpact_exp.errors import UnpactConfigError

    cfg = OmegaConf.merge(root_cfg, {"eval": {"rate_items": "mcq"}})
    with pytest.raises(UnpactConfigError, match="auto"):
        make_evaluator(tiny_llama, tokenizer, prompt_format, benchmark, cfg)


def test_split_similarities_weighted_by_counts_give_the_overall_mean(evaluator, tiny_factory):
    # Seed 38 keeps M0's letter on the first MC forget item only (lm-eval's MC prompt).
    other_model = tiny_factory(38)
    m = evaluator.evaluate(other_model).metrics
    n_f = m["n_forgotten"]
    n_r = m["n_known"] - n_f
    assert n_f > 0 and n_r > 0  # both groups exist, so the check below can fail
    for name in ("keytoken_similarity", "contribution_similarity"):
        split = n_f * m[f"{name}_forgotten"] + n_r * m[f"{name}_retained"]
        assert split / (n_f + n_r) == pytest.approx(m[name]), name
    rows = evaluator.evaluate(other_model).records()
    forgotten_ks = [r["keytoken_similarity"] for r in rows if r["forgotten"]]
    assert m["keytoken_similarity_forgotten"] == pytest.approx(sum(forgotten_ks) / n_f)


def test_split_over_an_empty_group_is_nan(evaluator, tiny_llama):
    m = evaluator.evaluate(tiny_llama).metrics  # nothing forgotten
    assert math.isnan(m["keytoken_similarity_forgotten"])
    assert m["keytoken_similarity_retained"] == m["keytoken_similarity"]
    assert m["focus_vs_probab_discordant"] == [0, 0] and m["focus_vs_probab_mcnemar_p"] == 1.0
    assert m["recovery_rate_counts"] == [0, 0] and m["recovery_rate_ci"] is None


def test_every_rate_carries_counts_and_a_wilson_interval(evaluator, other_model):
    from unpact_exp.evaluation.statistics import mcnemar_exact_p, wilson_interval

    result = evaluator.evaluate(other_model)
    m = result.metrics
    rates = RATES[:5] + ["prompt_ignorance", "mc_forget_acc", "mc_retain_acc"]
    for key in rates + ["utility_original", "prompt_ignorance_original"]:
        k, n = m[f"{key}_counts"]
        assert m[key] == pytest.approx(k / n), key
        assert m[f"{key}_ci"] == pytest.approx(list(wilson_interval(k, n))), key
    assert m["forget_rate_counts"] == [m["n_forgotten"], m["n_known"]]
    assert m["recovery_rate_counts"][1] == m["n_forgotten"]
    forgotten = [r for r in result.records() if r["forgotten"]]
    b = sum(r["recovered_focus"] and not r["recovered_probab"] for r in forgotten)
    c = sum(r["recovered_probab"] and not r["recovered_focus"] for r in forgotten)
    assert m["focus_vs_probab_discordant"] == [b, c]
    assert m["focus_vs_probab_mcnemar_p"] == mcnemar_exact_p(b, c)
    assert all(isinstance(v, float) for v in result.scalars().values())


def test_question_csv_holds_the_rows(evaluator, other_model, tmp_path):
    import csv
    import json

    from unpact_exp.evaluation.question_table import write_question_csv

    result = evaluator.evaluate(other_model)
    path = write_question_csv(tmp_path, result.rows, 7)
    with path.open(newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert len(lines) == len(result.rows)
    for line, row in zip(lines, result.records()):
        assert line["step"] == "7" and line["question"] == row["question"]
        assert line["m0_answer"] == row["original_answer"]
        assert line["m1_answer"] == row["unlearned_answer"]
        assert json.loads(line["k0_keytokens"]) == row["keytokens_original"]
        assert json.loads(line["probab_answers"]) == row["probab_answers"]
        if row["forgotten"]:
            assert line["recovered_focus"] in ("True", "False")
            prompts = json.loads(line["focus_prompts"])
            if row["focus_keys"]:
                assert len(prompts) == len(row["focus_answers"]) == len(evaluator.focus_templates)
                assert all(row["focus_keys"] in p and row["question"] in p for p in prompts)
        else:
            assert line["recovered_focus"] == "" and line["focus_prompts"] == "[]"
