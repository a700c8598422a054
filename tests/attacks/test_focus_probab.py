"""FocusOnKey and PROBAB recovery on questions whose answers are known by construction."""

import pytest
from omegaconf import OmegaConf

from unpact_exp.attacks.focus_on_key import (
    focus_on_key,
    focus_on_key_mc,
    focus_questions,
    keys_phrase,
)
from unpact_exp.attacks.probab import probab, probab_mc, sample_letters
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.unpact.config import EvalConfig
from unpact_exp.unpact.generation import greedy_answers, sampled_answers

TEMPLATES = ("Focus on {keys} to answer. {question}", "{question} Pay attention to {keys}.")


@pytest.fixture
def eval_cfg(cfg):
    return EvalConfig.from_config(OmegaConf.merge(cfg.eval, {"max_new_tokens": 6}))


def test_keys_phrase_keeps_question_order():
    assert keys_phrase(["Where", "was", "Alice", "born?"], [2, 0]) == "Where Alice"
    assert keys_phrase(["Where"], []) == ""


def test_focus_questions_render_each_template():
    assert focus_questions("Who?", "Bob", TEMPLATES) == [
        "Focus on Bob to answer. Who?",
        "Who? Pay attention to Bob.",
    ]


def test_focus_recovers_when_a_template_answer_is_gold(
    tokenizer, prompt_format, tiny_llama, eval_cfg
):
    question = "Where was Alice Smith born?"
    rewritten = focus_questions(question, "Alice Smith", TEMPLATES)[1]
    gold = greedy_answers(
        tiny_llama, tokenizer, [prompt_format.parts(rewritten)], 6, eval_cfg.stop_strings, 1
    )[0]
    items = [QAItem(question, gold), QAItem(question, "zebra zebra"), QAItem(question, gold)]
    result = focus_on_key(
        tiny_llama,
        tokenizer,
        prompt_format,
        items,
        ["Alice Smith", "Alice Smith", ""],
        TEMPLATES,
        [],
        eval_cfg,
    )
    assert result.recovered == [True, False, False]
    assert [len(a) for a in result.answers] == [2, 2, 0]  # an empty phrase is not asked
    assert result.answers[0][1] == gold


def test_focus_mc_recovers_by_pointing_at_the_key(tokenizer, prompt_format, key_model_factory):
    model = key_model_factory(key="France", answer="B")
    item = MCItem("Which city is the capital?", ("Rome", "Paris"), 1)  # no key: predicts A
    result = focus_on_key_mc(model, tokenizer, prompt_format, [item], ["France"], TEMPLATES, 4)
    assert result.recovered == [True]
    assert result.answers == [["B", "B"]]


def test_probab_recovers_when_a_sample_is_gold(tokenizer, prompt_format, tiny_llama, eval_cfg, cfg):
    from unpact_exp.unpact.config import ProbabConfig

    probab_cfg = ProbabConfig.from_config(cfg.probab)
    question = "Who is the mother of Bob Jones?"
    samples = sampled_answers(
        tiny_llama,
        tokenizer,
        [prompt_format.parts(question)],
        2,
        probab_cfg.temperature,
        probab_cfg.top_p,
        probab_cfg.seed,
        6,
        eval_cfg.stop_strings,
        eval_cfg.batch_size,
    )[0]
    items = [QAItem(question, samples[1])]
    result = probab(tiny_llama, tokenizer, prompt_format, items, 2, [], probab_cfg, eval_cfg)
    assert result.answers == [samples]
    assert result.recovered == [True]


def test_sample_letters_seeded_and_nucleus():
    scores = [[0.0, -1.0, -5.0], [-3.0, -0.1, -2.0]]
    assert sample_letters(scores, 5, 1.0, 1.0, 3) == sample_letters(scores, 5, 1.0, 1.0, 3)
    # A tiny nucleus keeps only the most likely letter.
    assert sample_letters(scores, 4, 1.0, 0.01, 3) == [[0] * 4, [1] * 4]


def test_probab_mc(tokenizer, prompt_format, key_model_factory, cfg):
    from unpact_exp.unpact.config import ProbabConfig

    model = key_model_factory(key="France", answer="B", strength=20.0)
    item = MCItem("Which city is the capital of France?", ("Rome", "Paris"), 1)
    result = probab_mc(
        model, tokenizer, prompt_format, [item], 3, ProbabConfig.from_config(cfg.probab), 4
    )
    assert result.recovered == [True] and result.answers == [["B", "B", "B"]]
