"""Batched greedy and sampled generation, stop strings and EOS."""

import torch

from unpact_exp.unpact.generation import (
    cut_answer,
    decode_answer,
    greedy_answers,
    sampled_answers,
)

QUESTIONS = [
    "Which city is the capital of France?",
    "Where was Alice Smith born?",
    "Who is the mother of Bob Jones?",
]


def test_cut_answer_at_earliest_stop_string():
    stops = ["\n\n", "\nQuestion", "Question:"]
    assert cut_answer(" Paris\n\nQuestion: next", stops) == "Paris"
    assert cut_answer("a Question: b\nQuestion", stops) == "a"
    assert cut_answer("  no stop here ", stops) == "no stop here"
    assert cut_answer("Question: at start", stops) == ""


def test_decode_stops_at_eos(tokenizer):
    vocab = tokenizer.get_vocab()
    ids = [vocab["Carol"], vocab["White"], tokenizer.eos_token_id, vocab["Paris"]]
    assert decode_answer(tokenizer, ids, {tokenizer.eos_token_id}, []) == "Carol White"
    assert decode_answer(tokenizer, ids, {tokenizer.eos_token_id}, ["White"]) == "Carol"


def test_batched_greedy_equals_one_at_a_time(tokenizer, prompt_format, tiny_llama):
    prompts = [prompt_format.parts(q) for q in QUESTIONS]
    batched = greedy_answers(tiny_llama, tokenizer, prompts, 8, [], 3)
    alone = [greedy_answers(tiny_llama, tokenizer, [p], 8, [], 1)[0] for p in prompts]
    assert batched == alone
    assert all(isinstance(a, str) and a for a in batched)


def test_greedy_answers_are_cut_at_stop_strings(tokenizer, prompt_format, tiny_llama):
    prompts = [prompt_format.parts(q) for q in QUESTIONS]
    raw = greedy_answers(tiny_llama, tokenizer, prompts, 8, [], 3)
    stop = raw[0].split()[len(raw[0].split()) // 2]
    cut = greedy_answers(tiny_llama, tokenizer, prompts, 8, [stop], 3)
    assert cut == [r[: r.find(stop)].strip() if stop in r else r for r in raw]
    assert all(stop not in c for c in cut)


def test_sampling_is_seeded_and_leaves_global_rng_alone(tokenizer, prompt_format, tiny_llama):
    prompts = [prompt_format.parts(q) for q in QUESTIONS]
    state = torch.get_rng_state()
    first = sampled_answers(tiny_llama, tokenizer, prompts, 3, 1.0, 1.0, 7, 6, [], 2)
    assert torch.equal(torch.get_rng_state(), state)
    again = sampled_answers(tiny_llama, tokenizer, prompts, 3, 1.0, 1.0, 7, 6, [], 2)
    other = sampled_answers(tiny_llama, tokenizer, prompts, 3, 1.0, 1.0, 8, 6, [], 2)
    assert first == again
    assert first != other
    assert [len(s) for s in first] == [3, 3, 3]
