"""Shared-prefix scoring (``family_target_logprobs``) equals scoring every pair alone.

This is the performance change measured by figure 1: a prompt's n+1 UNPACT variants
are packed into one row with a 4-D mask. These tests pin its equivalence with the
independent-pairs path on layouts the UNPACT tests do not reach: members that share
nothing, members whose prompts end before the divergence point, different targets in
one family, families split across rows, eager attention, and the fallback for models
that cannot take a 4-D mask.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer
from unpact_exp.unpact.scoring import (
    _pair_logprobs,
    collect_stats,
    family_target_logprobs,
    mean_target_logprobs,
    supports_shared_prefix,
)

WORDS = "the quick brown fox jumps over a lazy dog near river bank today Paris Rome baker"


@pytest.fixture(scope="module")
def tokenizer():
    return build_word_tokenizer([WORDS])


def tiny(tokenizer, attn: str = "sdpa") -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_tiny_llama(tokenizer, 32, 2, 2, 64, 128, seed=0)
    model.config._attn_implementation = attn
    return model.eval()


def random_families(vocab: int, seed: int) -> list[list[tuple[list[int], list[int]]]]:
    rng = random.Random(seed)
    families = []
    for _ in range(5):
        prompt = [2] + [rng.randrange(4, vocab) for _ in range(rng.randrange(1, 12))]
        target = [rng.randrange(4, vocab) for _ in range(rng.randrange(1, 4))]
        members = [(prompt, target)]
        for _ in range(rng.randrange(0, 9)):
            kind = rng.randrange(4)
            if kind == 0 and len(prompt) > 1:  # delete one token
                i = rng.randrange(1, len(prompt))
                members.append((prompt[:i] + prompt[i + 1 :], target))
            elif kind == 1:  # replace one token
                i = rng.randrange(len(prompt))
                members.append((prompt[:i] + [3] + prompt[i + 1 :], target))
            elif kind == 2:  # same prompt, another target (multiple choice letters)
                members.append((prompt, [rng.randrange(4, vocab)]))
            else:  # nothing in common with the anchor
                members.append(([rng.randrange(4, vocab)], target))
        families.append(members)
    return families


def flat(families):
    return [pair for family in families for pair in family]


@pytest.mark.parametrize("batch_size", [1, 3, 64])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_families_equal_independent_pairs(tokenizer, batch_size, attn):
    model = tiny(tokenizer, attn)
    assert supports_shared_prefix(model)
    families = random_families(len(tokenizer), seed=batch_size)
    shared = family_target_logprobs(model, families, batch_size, tokenizer.pad_token_id)
    alone = _pair_logprobs(model, flat(families), 1, tokenizer.pad_token_id)
    assert [len(s) for s in shared] == [len(f) for f in families]
    assert [x for s in shared for x in s] == pytest.approx(alone, abs=1e-5)


def test_shared_prefix_forwards_fewer_tokens(tokenizer):
    model = tiny(tokenizer)
    prompt = [2] + list(range(4, 14))
    family = [(prompt, [5])] + [(prompt[:i] + prompt[i + 1 :], [5]) for i in range(1, 11)]
    with collect_stats() as shared:
        family_target_logprobs(model, [family], 64, tokenizer.pad_token_id)
    with collect_stats() as pairs:
        _pair_logprobs(model, family, 64, tokenizer.pad_token_id)
    assert shared.forwards == pairs.forwards == 1
    assert shared.tokens < pairs.tokens == sum(len(p) + len(t) for p, t in family)
    assert shared.logits == len(family)  # one scoring position per one-token target


def test_pairs_with_the_same_prompt_share_it(tokenizer):
    """Multiple-choice letters: one prompt, several one-token targets, in any order."""
    model = tiny(tokenizer)
    prompts = [[2, 5, 6, 7, 8], [2, 9, 10], [2, 5, 6, 7, 8, 11]]
    pairs = [(p, [letter]) for letter in (12, 13, 14, 15) for p in prompts]
    with collect_stats() as grouped:
        scores = mean_target_logprobs(model, pairs, 64, tokenizer.pad_token_id)
    with collect_stats() as alone:
        expected = _pair_logprobs(model, pairs, 64, tokenizer.pad_token_id)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert grouped.tokens < alone.tokens


class TwoDMaskOnly(torch.nn.Module):
    """A causal LM without ``config``: it can only take 2-D masks (hand-made test models)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        out = self.inner(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        )
        return SimpleNamespace(logits=out.logits)


def test_models_without_4d_masks_fall_back(tokenizer):
    model = TwoDMaskOnly(tiny(tokenizer))
    assert not supports_shared_prefix(model)
    families = random_families(len(tokenizer), seed=7)
    with collect_stats() as stats:
        shared = family_target_logprobs(model, families, 4, tokenizer.pad_token_id)
    alone = _pair_logprobs(model, flat(families), 4, tokenizer.pad_token_id)
    assert [x for s in shared for x in s] == pytest.approx(alone, abs=1e-6)
    assert stats.forwards == -(-len(flat(families)) // 4)


def test_stats_are_only_collected_inside_the_block(tokenizer):
    model = tiny(tokenizer)
    with collect_stats() as stats:
        pass
    family_target_logprobs(model, [[([2, 5, 6], [7])]], 4, tokenizer.pad_token_id)
    assert stats.forwards == 0
