"""Every prompt the framework sends is the whole text tokenized once (issue 13, item 1).

For each tokenizer family (Llama-2 SentencePiece fast and slow, byte-level BPE) and each
prompt kind (plain QA, ICL, multiple choice, chat, chat MC, FocusOnKey; PROBAB samples
the ICL prompt): the ids used equal ``tokenizer(full_text)`` with the tokenizer's own
BOS behaviour, and the question span decodes to the question.
"""

from __future__ import annotations

import pytest

from tests.tokenizers.prompts import ICL, KINDS, MC, QUESTION, plain_format
from tests.tokenizers.recording import RecordingLM
from unpact_exp.data.schema import QAItem
from unpact_exp.evaluation.multiple_choice import mc_letter_logprobs
from unpact_exp.models.prompt import LETTERS, adds_bos, encode_parts
from unpact_exp.training.sequences import IGNORE, encode_qa
from unpact_exp.unpact.contributions import encode_target
from unpact_exp.unpact.generation import greedy_answers, sampled_answers


def whole(tokenizer, text: str, prompt: str | None = None) -> list[int]:
    """``tokenizer(text)`` with BOS unless the (prompt) text already starts with it."""
    special = adds_bos(tokenizer, text if prompt is None else prompt)
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def decode(tokenizer, ids: list[int]) -> str:
    """Text of ``ids``; transformers' SentencePiece backend leaves byte pieces undecoded."""
    sp_model = getattr(tokenizer, "sp_model", None)
    if sp_model is not None and not tokenizer.is_fast:
        return sp_model.decode([i for i in ids if i not in tokenizer.all_special_ids])
    return tokenizer.decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_prompt_ids_are_the_whole_text_and_span_is_the_question(family, kind):
    _, parts = KINDS[kind](family)
    encoded = encode_parts(family, parts)
    assert encoded.input_ids == whole(family, parts.text)
    span = encoded.input_ids[encoded.question_start : encoded.question_end]
    assert decode(family, span).strip() == parts.question


def test_bos_follows_the_tokenizer(llama2, bytelevel, bytelevel_nobos):
    _, parts = KINDS["qa"](llama2)
    assert encode_parts(llama2, parts).input_ids[0] == llama2.bos_token_id
    assert encode_parts(bytelevel, parts).input_ids[0] == bytelevel.bos_token_id
    plain = bytelevel_nobos(parts.text, add_special_tokens=False)["input_ids"]
    assert encode_parts(bytelevel_nobos, parts).input_ids == plain
    _, chat = KINDS["chat"](llama2)
    ids = encode_parts(llama2, chat).input_ids
    assert ids[0] == llama2.bos_token_id and ids[1] != llama2.bos_token_id  # not doubled


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scored_answer_is_tokenized_with_its_prompt(family, kind):
    fmt, parts = KINDS[kind](family)
    answer = "A" if kind.endswith("mc") else "Paris 1912"
    encoded, target = encode_target(family, parts, answer, fmt.answer_prefix)
    full = parts.text + fmt.answer_prefix + answer
    assert encoded.input_ids + target == whole(family, full, parts.text)
    assert decode(family, target).strip() == answer
    span = encoded.input_ids[encoded.question_start : encoded.question_end]
    assert decode(family, span).strip() == parts.question


def test_training_sequence_is_one_string_and_labels_cover_the_answer(family):
    item = QAItem(QUESTION, "Paris 1912")
    fmt = plain_format()
    (example,) = encode_qa(family, fmt, [item], 1000)
    text = fmt.parts(QUESTION, family).text + fmt.answer_prefix + item.answer
    assert example.input_ids == whole(family, text) + [family.eos_token_id]
    labelled = [t for t in example.labels if t != IGNORE]
    assert labelled[-1] == family.eos_token_id
    assert decode(family, labelled[:-1]).strip() == item.answer
    first = example.labels.index(labelled[0])
    assert all(t == IGNORE for t in example.labels[:first])
    assert example.labels[first:] == example.input_ids[first:]


@pytest.mark.parametrize("kind", ["qa", "icl", "chat", "focus"])
def test_generation_sends_the_whole_text(family, kind):
    _, parts = KINDS[kind](family)
    model = RecordingLM(len(family), family.eos_token_id)
    assert greedy_answers(model, family, [parts, parts], 8, ["\n"], 2) == ["", ""]
    assert model.seen == [whole(family, parts.text)] * 2


def test_probab_samples_the_whole_icl_prompt(family):
    parts = plain_format().parts(QUESTION, family, icl=ICL)
    model = RecordingLM(len(family), family.eos_token_id)
    sampled_answers(model, family, [parts], 3, 1.0, 1.0, 0, 8, ["\n"], 4)
    assert model.seen == [whole(family, parts.text)]


@pytest.mark.parametrize("kind", ["mc", "chat_mc"])
def test_mc_letters_are_scored_after_the_whole_prompt(family, kind):
    fmt, parts = KINDS[kind](family)
    model = RecordingLM(len(family), family.eos_token_id)
    mc_letter_logprobs(model, family, fmt, [MC], 8)
    expected = [
        whole(family, parts.text + fmt.answer_prefix + letter, parts.text)
        for letter in LETTERS[: len(MC.choices)]
    ]
    assert sorted(model.seen) == sorted(expected)
