"""ROUGE-L correctness, knowmem aggregate and multiple-choice letter scoring."""

import math

import pytest

from unpact_exp.data.schema import MCItem
from unpact_exp.evaluation.correctness import is_correct, rouge_l
from unpact_exp.evaluation.multiple_choice import accuracy, mc_letter_logprobs, mc_predictions
from unpact_exp.metrics.knowmem import knowmem_score


def test_rouge_recall_of_gold_against_output():
    recall, f1 = rouge_l("Paris", "The capital is Paris", stemming=False)
    assert recall == 1.0
    assert f1 == pytest.approx(2 * 0.25 / 1.25)


def test_threshold_is_inclusive():
    # "Carol White" vs "Carol": LCS 1 of 2 gold tokens -> recall 0.5.
    assert is_correct("Carol White", "Carol", 0.5, stemming=False)
    assert not is_correct("Carol White", "Carol", 0.6, stemming=False)
    assert not is_correct("Carol White", "", 0.5, stemming=False)


def test_knowmem_score_is_mean_f1_times_100():
    assert knowmem_score(
        ["Paris", "Carol White"], ["Paris", "Carol"], stemming=False
    ) == pytest.approx(100 * (1.0 + 2 / 3) / 2)
    assert math.isnan(knowmem_score([], [], stemming=False))


def test_mc_prediction_is_the_best_letter(tokenizer, prompt_format, key_model_factory):
    model = key_model_factory(key="France", answer="B")
    items = [
        MCItem("Which city is the capital of France?", ("Rome", "Paris", "Jones"), 1),
        MCItem("Where was Alice Smith born?", ("Rome", "Paris"), 1),
    ]
    scores = mc_letter_logprobs(model, tokenizer, prompt_format, items, 4)
    assert [len(s) for s in scores] == [3, 2]
    # With the key, B wins; without it every letter ties and the first (A) is taken.
    assert mc_predictions(model, tokenizer, prompt_format, items, 4) == [1, 0]


def test_accuracy():
    assert accuracy([1, 0, 2], [1, 1, 2]) == pytest.approx(2 / 3)
    assert math.isnan(accuracy([], []))
