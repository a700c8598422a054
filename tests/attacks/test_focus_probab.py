"""FocusOnKey and PROBAB recovery on questions whose answers are known by construction."""

import pytest

from tests.model_fixtures import HANDMADE, task_context
from unpact_exp.attacks.focus_on_key import FocusOnKey, focus_questions
from unpact_exp.attacks.probab import Probab
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.evaluation.attacking import AttackContext, Target
from unpact_exp.evaluation.multiple_choice import sample_letters
from unpact_exp.evaluation.tasks import MCTask, QATask
from unpact_exp.unpact.generation import greedy_answers, sampled_answers
from unpact_exp.unpact.keytokens import keys_phrase

TEMPLATES = ("Focus on {keys} to answer. {question}", "{question} Pay attention to {keys}.")
CTX = AttackContext(budget=2, retain_demonstrations=(), seed=0)


def target(task, items, units, keys):
    return Target(task, list(items), list(units), list(keys), [[] for _ in items])


@pytest.fixture
def qa(tokenizer, prompt_format, cfg):
    return QATask(task_context(tokenizer, prompt_format, cfg, max_new_tokens=6, **HANDMADE))


def test_keys_phrase_keeps_question_order():
    assert keys_phrase(["Where", "was", "Alice", "born?"], [2, 0]) == "Where Alice"
    assert keys_phrase(["Where"], []) == ""


def test_focus_questions_render_each_template():
    assert focus_questions("Who?", "Bob", TEMPLATES) == [
        "Focus on Bob to answer. Who?",
        "Who? Pay attention to Bob.",
    ]


def test_focus_recovers_when_a_template_answer_is_gold(tokenizer, prompt_format, tiny_llama, qa):
    question = "Where was Alice Smith born?"
    rewritten = focus_questions(question, "Alice Smith", TEMPLATES)[1]
    gold = greedy_answers(
        tiny_llama, tokenizer, [prompt_format.parts(rewritten)], 6, qa.ctx.eval.stop_strings, 1
    )[0]
    items = [QAItem(question, gold), QAItem(question, "zebra zebra"), QAItem(question, gold)]
    units = [("Alice", "Smith", "born")] * 3
    keys = [[0, 1], [0, 1], []]
    run = FocusOnKey("original", TEMPLATES).run(tiny_llama, target(qa, items, units, keys), CTX)
    assert [o.recovered for o in run.outcomes] == [True, False, False]
    assert [len(o.answers) for o in run.outcomes] == [2, 2, 0]  # an empty phrase is not asked
    assert run.outcomes[0].answers[1] == gold
    assert run.outcomes[0].extra["focus_keys"] == "Alice Smith"
    assert run.outcomes[2].attacked  # counted in the denominator, as not recovered


def test_focus_mc_recovers_by_pointing_at_the_key(tokenizer, prompt_format, key_model_factory, cfg):
    model = key_model_factory(key="France", answer="B")
    mc = MCTask(task_context(tokenizer, prompt_format, cfg, mc_batch_size=4))
    item = MCItem("Which city is the capital?", ("Rome", "Paris"), 1)  # no key: predicts A
    run = FocusOnKey("original", TEMPLATES).run(
        model, target(mc, [item], [("France",)], [[0]]), CTX
    )
    assert [o.recovered for o in run.outcomes] == [True]
    assert run.outcomes[0].answers == ["B", "B"]


def test_probab_recovers_when_a_sample_is_gold(tokenizer, prompt_format, tiny_llama, qa, cfg):
    probab = Probab(1.0, 1.0, 1234)
    question = "Who is the mother of Bob Jones?"
    samples = sampled_answers(
        tiny_llama,
        tokenizer,
        [prompt_format.parts(question)],
        2,
        1.0,
        1.0,
        1234,
        6,
        qa.ctx.eval.stop_strings,
        qa.ctx.eval.batch_size,
    )[0]
    items = [QAItem(question, samples[1])]
    run = probab.run(tiny_llama, target(qa, items, [()], [[]]), CTX)
    assert run.outcomes[0].answers == samples
    assert [o.recovered for o in run.outcomes] == [True]
    assert run.budget == {"samples_per_question": 2.0}


def test_sample_letters_seeded_and_nucleus():
    scores = [[0.0, -1.0, -5.0], [-3.0, -0.1, -2.0]]
    assert sample_letters(scores, 5, 1.0, 1.0, 3) == sample_letters(scores, 5, 1.0, 1.0, 3)
    # A tiny nucleus keeps only the most likely letter.
    assert sample_letters(scores, 4, 1.0, 0.01, 3) == [[0] * 4, [1] * 4]


def test_probab_mc(tokenizer, prompt_format, key_model_factory, cfg):
    model = key_model_factory(key="France", answer="B", strength=20.0)
    mc = MCTask(task_context(tokenizer, prompt_format, cfg, mc_batch_size=4))
    item = MCItem("Which city is the capital of France?", ("Rome", "Paris"), 1)
    ctx = AttackContext(budget=3, retain_demonstrations=(), seed=0)
    run = Probab(1.0, 1.0, 1234).run(model, target(mc, [item], [()], [[]]), ctx)
    assert [o.recovered for o in run.outcomes] == [True]
    assert run.outcomes[0].answers == ["B", "B", "B"]
