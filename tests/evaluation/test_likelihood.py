"""The likelihood label (evaluation/likelihood.py, docs/science.md §5), worked by hand.

:class:`~tests.model_fixtures.KeyTokenModel` gives every token the logit 0 except the answer
word, whose logit is ``s`` once the key word is in the prefix. So with V tokens, after the
key: log p(answer) = s - log(V - 1 + e^s) and log p(other) = -log(V - 1 + e^s); without it,
every token has log p = -log V. A candidate's score is its summed log-probability (lm-eval's
``acc`` rule), and the gold must beat every distractor strictly.
"""

from __future__ import annotations

import math

import pytest

from tests.model_fixtures import task_context
from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.likelihood import gold_outranks, has_distractors
from unpact_exp.unpact.contributions import encode_target

QUESTION = "Where was Alice Smith born?"


@pytest.fixture
def ctx(tokenizer, prompt_format, cfg):
    return task_context(tokenizer, prompt_format, cfg)


def target_ids(ctx, question: str, answer: str) -> list[int]:
    parts = ctx.prompt_format.parts(question, ctx.tokenizer)
    return encode_target(ctx.tokenizer, parts, answer, ctx.prompt_format.answer_prefix)[1]


def test_the_candidates_are_the_words_the_arithmetic_assumes(ctx) -> None:
    """One target token for each one-word candidate (else the sums below would differ)."""
    for word in ("Paris", "Rome", "Carol"):
        assert len(target_ids(ctx, QUESTION, word)) == 1


def test_the_gold_outranks_when_the_key_is_in_the_question(ctx, key_model_factory) -> None:
    # Key "Alice" is in the question: Paris gets s - log(V-1+e^s), Rome -log(V-1+e^s).
    model = key_model_factory("Alice", "Paris", strength=3.0)
    item = QAItem(QUESTION, "Paris", distractors=("Rome",))
    assert gold_outranks(model, ctx, [item]) == [True]


def test_a_tie_is_not_outranking(ctx, key_model_factory) -> None:
    # The key word is absent: both one-token candidates score -log V exactly; a tie is not a win.
    model = key_model_factory("Carol", "Paris", strength=3.0)
    item = QAItem(QUESTION, "Paris", distractors=("Rome",))
    assert gold_outranks(model, ctx, [item]) == [False]


def test_any_of_the_given_questions_counts(ctx, key_model_factory) -> None:
    """FocusOnKey's rewordings: one prompt where the gold wins is enough."""
    model = key_model_factory("Carol", "Paris", strength=3.0)
    item = QAItem(QUESTION, "Paris", distractors=("Rome",))
    asked = [[QUESTION, f"{QUESTION} Focus on Carol to answer."]]
    assert gold_outranks(model, ctx, [item], asked) == [True]
    assert gold_outranks(model, ctx, [item], [[QUESTION]]) == [False]


def test_one_distractor_above_the_gold_is_enough_to_fail(ctx, key_model_factory) -> None:
    # Key seen, but the strong word is the distractor "Rome": Paris is one of the zeros.
    model = key_model_factory("Alice", "Rome", strength=3.0)
    item = QAItem(QUESTION, "Paris", distractors=("Carol", "Rome"))
    assert gold_outranks(model, ctx, [item]) == [False]


def test_summed_scores_favour_shorter_candidates(ctx, key_model_factory) -> None:
    """Without the key, a two-token distractor sums 2 x (-log V) < -log V: the gold wins on
    length alone. This is the acc rule's known bias (lm-eval's acc_norm divides by length);
    the label inherits it, which is why science.md reports it beside the judge's label."""
    model = key_model_factory("Dan", "Paris", strength=3.0)
    two = "Carol White"
    assert len(target_ids(ctx, QUESTION, two)) == 2
    v = model.vocab_size
    assert -math.log(v) > -2 * math.log(v)
    item = QAItem(QUESTION, "Paris", distractors=(two,))
    assert gold_outranks(model, ctx, [item]) == [True]


def test_items_without_distractors_are_never_likely_known(ctx, key_model_factory) -> None:
    model = key_model_factory("Alice", "Paris", strength=3.0)
    items = [QAItem(QUESTION, "Paris"), QAItem(QUESTION, "Paris", distractors=("Rome",))]
    assert gold_outranks(model, ctx, items) == [False, True]
    assert has_distractors(items) and not has_distractors(items[:1])
    assert gold_outranks(model, ctx, items[:1]) == [False]
