"""UNPACT contributions: hand-made model with a known answer, batching invariance."""

import math

import pytest
import torch

from unpact_exp.errors import DataError, UnpactConfigError
from unpact_exp.unpact.contributions import (
    ablate,
    contribution_vectors,
    prompt_contributions,
    resolve_filler_id,
    select_targets,
    target_ids,
)
from unpact_exp.unpact.keytokens import keytokens
from unpact_exp.unpact.scoring import mean_target_logprobs
from unpact_exp.unpact.units import split_units

QUESTIONS = [
    "Which city is the capital of France?",
    "Where was Alice Smith born?",
    "Who is the mother of Bob Jones?",
    "What does Dan Brown do for work?",
]


@pytest.mark.parametrize("removal", ["delete", "replace"])
@pytest.mark.parametrize("granularity", ["token", "word"])
def test_only_the_key_token_contributes(
    tokenizer, prompt_format, key_model_factory, granularity, removal
):
    """Worked by hand: with the key, log p(Paris) = 8 - log(e^8 + V - 1); without, -log V."""
    model = key_model_factory(key="France", answer="Paris", strength=8.0)
    vocab_size = len(tokenizer)
    parts = prompt_format.parts("Which city is the capital of France?")
    (result,) = prompt_contributions(
        model, tokenizer, [parts], ["Paris"], " ", granularity, removal, None, 4
    )
    with_key = 8.0 - math.log(math.exp(8.0) + vocab_size - 1)
    without_key = -math.log(vocab_size)
    key_unit = "France" if granularity == "token" else "France?"
    key_index = result.units.index(key_unit)
    assert result.lp == pytest.approx(with_key, abs=1e-5)
    assert result.contributions[key_index] == pytest.approx(with_key - without_key, abs=1e-5)
    others = [c for i, c in enumerate(result.contributions) if i != key_index]
    assert max(abs(c) for c in others) < 1e-6
    assert keytokens(result.contributions, 0.22, 0.24, "max") == [key_index]
    assert result.target_ids == (tokenizer.get_vocab()["Paris"],)


def test_scoring_is_batched(tokenizer, prompt_format, key_model_factory):
    """All n+1 variants of all prompts go through ceil(total / batch_size) forward passes."""
    model = key_model_factory(key="France", answer="Paris")
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    prompts = [prompt_format.parts(q) for q in QUESTIONS]
    results = prompt_contributions(
        model, tokenizer, prompts, ["Paris"] * 4, " ", "token", "delete", None, 8
    )
    total = sum(len(r.units) + 1 for r in results)
    assert len(calls) == math.ceil(total / 8)


@pytest.mark.parametrize("removal", ["delete", "replace"])
@pytest.mark.parametrize("granularity", ["token", "word"])
def test_batched_equals_one_at_a_time(tokenizer, prompt_format, tiny_llama, granularity, removal):
    prompts = [prompt_format.parts(q) for q in QUESTIONS]
    answers = ["Paris", "Alice Smith was born in Paris", "Carol White", "He is a baker"]
    batched = prompt_contributions(
        tiny_llama, tokenizer, prompts, answers, " ", granularity, removal, None, 5
    )
    for parts, answer, got in zip(prompts, answers, batched):
        (alone,) = prompt_contributions(
            tiny_llama, tokenizer, [parts], [answer], " ", granularity, removal, None, 1
        )
        assert got.units == alone.units and got.spans == alone.spans
        assert got.lp == pytest.approx(alone.lp, abs=1e-4)
        assert got.contributions == pytest.approx(alone.contributions, abs=1e-4)


def test_contribution_vectors_match_a_direct_definition(tokenizer, prompt_format, tiny_llama):
    parts = prompt_format.parts("Where was Alice Smith born?")
    units = split_units(tokenizer, parts, "token")
    target = target_ids(tokenizer, parts, "Paris", " ")
    ((lp, contribs),) = contribution_vectors(
        tiny_llama, [units], [target], "delete", 0, 64, tokenizer.pad_token_id
    )
    for span, c in zip(units.spans, contribs):
        ablated = ablate(units.input_ids, span, "delete", 0)
        (lp_without,) = mean_target_logprobs(tiny_llama, [(ablated, target)], 1, 0)
        assert c == pytest.approx(lp - lp_without, abs=1e-5)


def test_ablate_delete_and_replace():
    assert ablate([1, 2, 3, 4], (1, 3), "delete", 9) == [1, 4]
    assert ablate([1, 2, 3, 4], (1, 3), "replace", 9) == [1, 9, 9, 4]


def test_filler_defaults_to_unk_and_accepts_one_token(tokenizer):
    assert resolve_filler_id(tokenizer, None) == tokenizer.unk_token_id
    assert resolve_filler_id(tokenizer, "dog") == tokenizer.get_vocab()["dog"]
    with pytest.raises(UnpactConfigError, match="exactly one"):
        resolve_filler_id(tokenizer, "lazy dog")


def test_filler_falls_back_to_pad():
    class NoUnk:
        unk_token_id = None
        pad_token_id = 7

    assert resolve_filler_id(NoUnk(), None) == 7


def test_target_ids_prefix_and_empty_answer(tokenizer, prompt_format):
    parts = prompt_format.parts("Where was Alice Smith born?")
    prompt_ids = tokenizer(parts.text)["input_ids"]
    joint = tokenizer(parts.text + " Carol White")["input_ids"]
    assert joint[: len(prompt_ids)] == prompt_ids
    assert target_ids(tokenizer, parts, "Carol White", " ") == joint[len(prompt_ids) :]
    assert target_ids(tokenizer, parts, "", " ") == [tokenizer.eos_token_id]


def test_select_targets():
    assert select_targets("generated", ["a"], ["b"]) == ["a"]
    assert select_targets("reference", ["a"], ["b"]) == ["b"]


def test_empty_target_or_prompt_is_an_error(tiny_llama):
    with pytest.raises(DataError, match="non-empty"):
        mean_target_logprobs(tiny_llama, [([1, 2], [])], 4, 0)
    with pytest.raises(DataError, match="non-empty"):
        mean_target_logprobs(tiny_llama, [([], [3])], 4, 0)


def test_scoring_leaves_no_graph(tiny_llama):
    (score,) = mean_target_logprobs(tiny_llama, [([2, 5, 6], [7, 8])], 4, 0)
    assert isinstance(score, float)
    assert all(p.grad is None for p in tiny_llama.parameters())
    assert torch.is_grad_enabled()
