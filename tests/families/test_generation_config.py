"""Generation with real models' ``generation_config.json``: stop ids, padding, no sampling leak.

Llama-3.1's config carries three stop ids and no pad; Qwen3's carries sampling defaults
(temperature 0.6, top_k 20, top_p 0.95). Greedy answers must be argmax decodes whatever the
file says, PROBAB samples must follow ``probab.*`` only, and any listed stop id ends an answer.
"""

from __future__ import annotations

import pytest
import torch

from tests.fixtures.real_arch import prompt_format
from unpact_exp.metrics.verbmem import continuations
from unpact_exp.models.generation_config import (
    as_id_list,
    fix_pad_id,
    measurement_generation,
    stop_ids,
)
from unpact_exp.models.loading import load_model, load_tokenizer
from unpact_exp.unpact.generation import decode_answer, greedy_answers, sampled_answers

QUESTIONS = ("Which river will the new footbridge cross?", "Who did Rovers sign?")
STOPS = ["\n\n", "\nQuestion", "Question:"]
# Settings a chat checkpoint's generation_config.json may carry (Qwen3's sampling defaults,
# and what other families add), each of which would change a greedy or sampled token.
POLLUTION = {
    "do_sample": True,
    "temperature": 0.2,
    "top_k": 1,
    "top_p": 0.5,
    "min_p": 0.5,
    "repetition_penalty": 5.0,
    "no_repeat_ngram_size": 1,
}


def loaded(family):
    model = load_model(str(family.folder), "float32", False).eval()
    return model, load_tokenizer(str(family.tokenizer_folder), False)


def argmax_answer(model, tokenizer, ids: list[int], n: int, stops: list[int]) -> list[int]:
    """Greedy decoding by hand: one full forward per token, the argmax, stop at any stop id."""
    new: list[int] = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(input_ids=torch.tensor([ids + new])).logits[0, -1]
            token = int(logits.argmax())
            new.append(token)
            if token in stops:
                break
    return new


def test_llama31_keeps_its_stop_list_and_gets_one_pad_id(llama31_family) -> None:
    model, tokenizer = loaded(llama31_family)
    eos = list(llama31_family.eos_ids)
    assert model.generation_config.eos_token_id == eos  # still the list of three
    assert model.generation_config.pad_token_id == eos[0]  # one id: the first EOS
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == eos[2]  # <|eot_id|>
    assert stop_ids(model, tokenizer) == eos
    # The sampling defaults stay in the model's own config (and in any folder saved from it).
    assert model.generation_config.do_sample is True
    assert model.generation_config.temperature == 0.6


def test_pad_id_rules() -> None:
    from types import SimpleNamespace

    def pad(pad_id, eos, config_eos=None):
        gen = SimpleNamespace(pad_token_id=pad_id, eos_token_id=eos)
        fix_pad_id(gen, SimpleNamespace(eos_token_id=config_eos))
        return gen.pad_token_id

    assert pad(None, [7, 8, 9]) == 7  # Llama-3.1: the first EOS
    assert pad(5, [7, 8]) == 5  # the model's own pad is kept
    assert pad([4, 5], 7) == 4  # a list (saved by another tool) keeps its first id
    assert pad(None, None, [3, 4]) == 3  # only the model config names EOS ids
    assert pad(None, None) is None
    assert as_id_list(None) == [] and as_id_list(3) == [3] and as_id_list((1, 2)) == [1, 2]


def test_every_listed_stop_id_ends_generation(llama31_family) -> None:
    """A model that says ``<|eom_id|>`` (the 2nd listed id, not the tokenizer's EOS) and then
    keeps talking: generation stops at once, for greedy answers and VerbMem continuations."""
    model, tokenizer = loaded(llama31_family)
    eom = llama31_family.eos_ids[1]
    word = tokenizer.convert_tokens_to_ids("Ana")
    calls = []

    def say_eom_then_words(_module, _inputs, logits):
        forced = eom if not calls else word
        calls.append(forced)
        bias = torch.full_like(logits[:, -1], -1e4)
        bias[:, forced] = 1e4
        logits = logits.clone()
        logits[:, -1] = bias
        return logits

    handle = model.lm_head.register_forward_hook(say_eom_then_words)
    try:
        fmt = prompt_format(llama31_family.model_config)
        answers = greedy_answers(model, tokenizer, [fmt.parts(QUESTIONS[0], tokenizer)], 8, [], 1)
        assert answers == [""] and calls == [eom]  # one forward: the prefill, then stopped
        calls.clear()
        assert continuations(model, tokenizer, ["Kettering council"], 8, 1) == [""]
        assert calls == [eom]
    finally:
        handle.remove()


def test_greedy_answers_are_argmax_decodes_whatever_the_generation_config(arch_family) -> None:
    model, tokenizer = loaded(arch_family)
    model.generation_config.update(**POLLUTION)
    fmt = prompt_format(arch_family.model_config)
    prompts = [fmt.parts(q, tokenizer) for q in QUESTIONS]
    stops = stop_ids(model, tokenizer)
    expected = []
    for parts in prompts:
        from unpact_exp.models.prompt import encode_parts

        ids = encode_parts(tokenizer, parts).input_ids
        expected.append(
            decode_answer(tokenizer, argmax_answer(model, tokenizer, ids, 12, stops), stops, STOPS)
        )
    assert greedy_answers(model, tokenizer, prompts, 12, STOPS, 2) == expected
    assert expected == ["The river Ise", "Ana Lopez"]  # the taught answers
    # The model's own config is back as it was after the call.
    assert model.generation_config.repetition_penalty == 5.0


def test_probab_samples_follow_only_the_probab_settings(qwen3_family) -> None:
    model, tokenizer = loaded(qwen3_family)
    fmt = prompt_format(qwen3_family.model_config)
    prompts = [fmt.parts(q, tokenizer) for q in QUESTIONS]

    def samples():
        return sampled_answers(model, tokenizer, prompts, 4, 3.0, 1.0, 11, 6, [], 2)

    clean = samples()  # Qwen3's own defaults: temperature 0.6, top_k 20, top_p 0.95
    model.generation_config.update(**POLLUTION)
    assert samples() == clean
    # ... and they are samples at temperature 3, not the greedy answer four times over.
    assert any(len(set(rows)) > 1 for rows in clean)


def test_measurement_generation_restores_the_config_after_an_error(qwen3_family) -> None:
    model, _ = loaded(qwen3_family)
    own = model.generation_config
    with pytest.raises(RuntimeError), measurement_generation(model, [1, 2], 0):
        assert model.generation_config.eos_token_id == [1, 2]
        assert model.generation_config.top_k is None  # nothing of Qwen3's top_k 20
        raise RuntimeError("stop")
    assert model.generation_config is own
