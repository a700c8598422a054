"""MUSE's VerbMem: reference cut, batched greedy continuations, ROUGE-L F1 x 100 by hand."""

from __future__ import annotations

import pytest
import torch

from unpact_exp.metrics import verbmem
from unpact_exp.metrics.verbmem import continuations, shorten_reference, verbmem_score


def test_reference_cut_counts_the_bos_as_muse_does(tokenizer) -> None:
    # ids: [<s>, the, quick, brown, fox]; the first 3 keep BOS + 2 words.
    assert shorten_reference(tokenizer, "the quick brown fox", 3) == "the quick"
    assert shorten_reference(tokenizer, "the quick brown fox", 128) == "the quick brown fox"


def test_score_is_mean_rouge_l_f1_times_100(monkeypatch, tokenizer) -> None:
    """Reference "the quick brown fox jumps over" (6 words), output "the brown fox over a dog"
    (6 words): LCS = the brown fox over (4), P = R = 4/6, F1 = 2/3. The second pair is exact
    (F1 = 1). Mean x 100 = (66.667 + 100) / 2 = 83.333."""
    outputs = ["the brown fox over a dog", "the lazy dog"]
    monkeypatch.setattr(verbmem, "continuations", lambda *args: outputs)
    score = verbmem_score(
        None,
        tokenizer,
        ["p1", "p2"],
        ["the quick brown fox jumps over", "the lazy dog"],
        max_new_tokens=128,
        batch_size=2,
        stemming=False,
    )
    assert score == pytest.approx(250.0 / 3)


def test_continuations_do_not_depend_on_the_batch(tiny_llama, tokenizer) -> None:
    prompts = ["Alice Smith was born", "The quick brown fox jumps over the lazy", "He is"]
    one = continuations(tiny_llama, tokenizer, prompts, 6, batch_size=1)
    three = continuations(tiny_llama, tokenizer, prompts, 6, batch_size=3)
    assert one == three
    # ...and equal an unbatched greedy decode of the raw prompt (BOS added, no template).
    ids = torch.tensor([tokenizer(prompts[1]).input_ids])
    out = tiny_llama.generate(
        input_ids=ids, max_new_tokens=6, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert one[1] == tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_no_items_is_nan(tiny_llama, tokenizer) -> None:
    score = verbmem_score(tiny_llama, tokenizer, [], [], 8, 4, stemming=False)
    assert score != score
