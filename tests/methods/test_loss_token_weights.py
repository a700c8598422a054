"""KeyToken-weighted forget losses (docs/science.md §11): weights and weighted GA/NPO by hand.

The toy model below knows one fact: after the answer's function word ``THE`` it predicts the
fact token ``FACT`` (logit 5, all others 0) only if the key word ``KEY`` was in its context;
without it every next token is equally likely. A second question word ``WORD`` slightly helps
the function word (logit 0.2 for ``THE`` after ``A:``): it contributes, but is not a KeyToken.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.ga import ga_loss, weighted_ga_loss
from unpact_exp.methods.npo import npo_loss, weighted_sequence_logprob
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, sequence_logprob
from unpact_exp.methods.token_weights import (
    ForgetPrompts,
    TokenWeights,
    check_weighting,
    keytoken_deltas,
    normalize_weights,
    raw_weights,
    remove_units,
    text_windows,
    weight_logs,
)
from unpact_exp.unpact.config import UnpactConfig

PAD, BOS, WORD, KEY, ASK, THE, FACT, EOS = range(8)
V = 8
PROMPT = [BOS, WORD, KEY, ASK]  # "<s> WORD KEY A:"; the question units are WORD and KEY
SPANS = ((1, 2), (2, 3))
ANSWER = [THE, FACT, EOS]
UNPACT = UnpactConfig(
    granularity="token",
    removal="delete",
    filler=None,
    scope="question",
    target="reference",
    alpha=0.22,
    beta=0.24,
    normalize="max",
    ignore_eps=0.05,
    batch_size=4,
    max_units=1024,
)
# log p(FACT | ... KEY ... THE) - log p(FACT | no KEY): logits (5 at FACT, 0 elsewhere) vs uniform.
FACT_DELTA = 5 - math.log(7 + math.exp(5)) + math.log(V)
# log p(THE | WORD ... A:) - log p(THE | no WORD): logits (0.2 at THE) vs uniform.
THE_DELTA = 0.2 - math.log(7 + math.exp(0.2)) + math.log(V)


class OneFactModel(nn.Module):
    """Next-token logits from the current token and which words are in the attended context."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device and a dtype

    def forward(self, input_ids, attention_mask, position_ids=None):  # noqa: ANN001, ANN201
        real = attention_mask.bool()
        seen_key = ((input_ids == KEY) & real).cumsum(-1) > 0
        seen_word = ((input_ids == WORD) & real).cumsum(-1) > 0
        logits = torch.zeros(*input_ids.shape, V) + self.anchor
        logits[..., THE] += 0.2 * ((input_ids == ASK) & seen_word)
        logits[..., FACT] += 5.0 * ((input_ids == THE) & seen_key)
        return SimpleNamespace(logits=logits)


def test_only_the_knowledge_carrying_answer_token_gets_weight() -> None:
    """KeyTokens of the toy prompt are {KEY}: C(KEY) = FACT_DELTA/3 and C(WORD) = THE_DELTA/3,
    |P|/n = 1 >= beta, N(WORD) = THE_DELTA/FACT_DELTA = 0.085 < alpha. Removing KEY changes only
    the FACT token's log-prob: raw weights [0, FACT_DELTA, 0]."""
    [weights] = raw_weights(OneFactModel(), [(PROMPT, ANSWER, SPANS)], "keytoken", UNPACT, 0, PAD)
    assert weights == pytest.approx([0.0, FACT_DELTA, 0.0], abs=1e-6)
    assert FACT_DELTA == pytest.approx(2.0334, abs=1e-4)  # 5 - log(155.41) + log 8


def test_question_weighting_removes_every_question_word() -> None:
    """``question`` removes WORD too, so the function word THE gets its small dependence."""
    [weights] = raw_weights(OneFactModel(), [(PROMPT, ANSWER, SPANS)], "question", UNPACT, 0, PAD)
    assert weights == pytest.approx([THE_DELTA, FACT_DELTA, 0.0], abs=1e-6)
    assert THE_DELTA == pytest.approx(0.1727, abs=1e-4)  # 0.2 - log(8.2214) + log 8


def test_a_prompt_whose_answer_ignores_the_question_gets_no_weight() -> None:
    [weights] = raw_weights(OneFactModel(), [([BOS, ASK], [EOS], ())], "keytoken", UNPACT, 0, PAD)
    assert weights == [0.0]


def test_deltas_keep_only_the_positive_part() -> None:
    assert keytoken_deltas([-1.0, -2.0, -0.5], [-3.0, -1.0, -0.5]) == [2.0, 0.0, 0.0]


def test_remove_units_deletes_or_replaces_every_span() -> None:
    ids = [10, 11, 12, 13, 14]
    assert remove_units(ids, [(1, 2), (3, 5)], "delete", 0) == [10, 12]
    assert remove_units(ids, [(3, 5), (1, 2)], "replace", 9) == [10, 9, 12, 9, 9]


def test_normalize_to_mean_one_over_the_batch_answer_tokens() -> None:
    """Raw [0, 3, 1 | 2, (off-mask 7)]: 4 answer tokens, raw sum 6 -> scale 4/6."""
    raw = torch.tensor([[0.0, 3.0, 1.0], [2.0, 7.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    w = normalize_weights(raw, mask)
    torch.testing.assert_close(w, torch.tensor([[0.0, 2.0, 2 / 3], [4 / 3, 0.0, 0.0]]))
    assert float(w[mask].mean()) == pytest.approx(1.0)


def test_all_zero_raw_weights_fall_back_to_uniform() -> None:
    mask = torch.tensor([[False, True, True]])
    w = normalize_weights(torch.zeros(1, 3), mask)
    torch.testing.assert_close(w, torch.tensor([[0.0, 1.0, 1.0]]))


def test_weight_logs() -> None:
    logs = weight_logs(torch.tensor([[0.0, 2.0, 9.0]]), torch.tensor([[True, True, False]]))
    assert float(logs["token_weight_max"]) == 2.0
    assert float(logs["token_weight_zero_frac"]) == 0.5


def _logits_for(logps: list[list[float]], labels: torch.Tensor) -> torch.Tensor:
    """Logits whose log-softmax gives ``logps[b][t]`` to ``labels[b, t + 1]`` (2-token vocab)."""
    batch, width = labels.shape
    logits = torch.zeros(batch, width, 2)
    for b in range(batch):
        for t in range(width - 1):
            p = math.exp(logps[b][t])
            label = int(labels[b, t + 1]) if labels[b, t + 1] != IGNORE_INDEX else 0
            logits[b, t, label] = math.log(p)
            logits[b, t, 1 - label] = math.log(1 - p) if p < 1 else -1e9
    return logits


LABELS = torch.tensor([[IGNORE_INDEX, 1, 0, 1], [IGNORE_INDEX, IGNORE_INDEX, 1, 1]])
LOGPS = [[math.log(0.5), math.log(0.25), math.log(0.8)], [0.0, math.log(0.5), math.log(0.1)]]


def test_weighted_ga_by_hand() -> None:
    """Targets: log(.5), log(.25), log(.8) | log(.5), log(.1); N = 5; weights [0, 2, 1 | 2, 0]
    -> (2 log .25 + log .8 + 2 log .5) / 5 = (-2.7726 - 0.2231 - 1.3863) / 5 = -0.8764."""
    logits = _logits_for(LOGPS, LABELS)
    weights = torch.tensor([[0.0, 2.0, 1.0], [0.0, 2.0, 0.0]])
    expected = (2 * math.log(0.25) + math.log(0.8) + 2 * math.log(0.5)) / 5
    assert float(weighted_ga_loss(logits, LABELS, weights)) == pytest.approx(expected, abs=1e-5)
    assert expected == pytest.approx(-0.8764, abs=1e-4)
    ones = (LABELS[:, 1:] != IGNORE_INDEX).float()
    torch.testing.assert_close(weighted_ga_loss(logits, LABELS, ones), ga_loss(logits, LABELS))


def test_weighted_npo_by_hand() -> None:
    """Weighted sequence log-probs: row 0: 2 log .25 + log .8 = -2.9957; row 1: 2 log .5 =
    -1.3863. Reference rows -1.0 and -1.3863: log-ratios -1.9957 and 0 ->
    -(2/0.1) * mean(logsigmoid(0.19957), logsigmoid(0)) = -20 * (-0.5983 - 0.6931) / 2 = 12.9148."""
    logits = _logits_for(LOGPS, LABELS)
    weights = torch.tensor([[0.0, 2.0, 1.0], [0.0, 2.0, 0.0]])
    policy = weighted_sequence_logprob(logits, LABELS, weights)
    torch.testing.assert_close(
        policy, torch.tensor([2 * math.log(0.25) + math.log(0.8), 2 * math.log(0.5)])
    )
    ref = torch.tensor([-1.0, 2 * math.log(0.5)])
    ls = lambda x: -math.log1p(math.exp(-x))  # noqa: E731  log sigmoid
    expected = -(2 / 0.1) * (ls(0.1 * 1.9957) + ls(0.0)) / 2
    assert float(npo_loss(policy, ref, 0.1)) == pytest.approx(expected, abs=1e-3)
    assert expected == pytest.approx(12.9148, abs=1e-3)
    ones = (LABELS[:, 1:] != IGNORE_INDEX).float()
    torch.testing.assert_close(
        weighted_sequence_logprob(logits, LABELS, ones), sequence_logprob(logits, LABELS)
    )


def _batch() -> dict[str, torch.Tensor]:
    """Two right-padded forget examples: the toy pair, and one without the key word."""
    rows = [PROMPT + ANSWER, [BOS, WORD, ASK, THE, FACT, EOS]]
    prompt_lengths = [len(PROMPT), 3]
    width = max(len(r) for r in rows) + 1
    ids = torch.full((2, width), PAD)
    labels = torch.full((2, width), IGNORE_INDEX)
    mask = torch.zeros((2, width), dtype=torch.long)
    for b, (row, n) in enumerate(zip(rows, prompt_lengths)):
        ids[b, : len(row)] = torch.tensor(row)
        labels[b, n : len(row)] = torch.tensor(row[n:])
        mask[b, : len(row)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "index": torch.arange(2)}


def test_token_weights_cache_fills_once_and_restores_at_its_width() -> None:
    batch = _batch()
    prompts = ForgetPrompts(spans=(SPANS, ((1, 2),)), filler_id=0, pad_id=PAD)
    weights = TokenWeights("keytoken", UNPACT, window=32, n_forget=2)
    model = OneFactModel()
    weights.fill(model, [batch], lambda m, b: m(b["input_ids"], b["attention_mask"]), prompts)
    assert bool(weights.ready) and weights.raw.shape == (2, 6)  # longest example 7 tokens
    # Row 0: FACT is predicted at shifted position 4 (token 5). Row 1 has no KEY: its only
    # question word WORD is its KeyToken, so its THE (shifted position 2) gets THE_DELTA.
    expected = torch.zeros(2, 6)
    expected[0, 4] = FACT_DELTA
    expected[1, 2] = THE_DELTA
    torch.testing.assert_close(weights.raw, expected)
    mask = batch["labels"][:, 1:] != IGNORE_INDEX
    normalized = weights.batch(batch["index"], mask)
    assert float(normalized.sum()) == pytest.approx(float(mask.sum()))  # 6 answer tokens
    share = 6 * FACT_DELTA / (FACT_DELTA + THE_DELTA)
    assert float(normalized[0, 4]) == pytest.approx(share) and share == pytest.approx(5.5303, 1e-4)

    restored = TokenWeights("keytoken", UNPACT, window=32, n_forget=2)
    restored.load_state_dict(weights.state_dict())
    torch.testing.assert_close(restored.raw, weights.raw)
    torch.testing.assert_close(restored.ref_logp, weights.ref_logp)
    assert bool(restored.ready)
    calls = []
    restored.fill(model, [batch], lambda m, b: calls.append(1), prompts)
    assert not calls  # restored: never recomputed with a partly unlearned policy


def test_weighting_errors_name_the_fix() -> None:
    from unpact_exp.methods import registry

    with pytest.raises(UnpactConfigError, match="forget_prompts.*token_weighting=uniform"):
        check_weighting("keytoken", None)
    check_weighting("uniform", None)  # raw text with uniform weights is fine
    node = {"name": "ga", "lr": 1e-5, "weight_decay": 0.0, "batch_size": 4}
    node |= {"forget_nll_stop": None, "forget_weight": 1.0, "keytoken_window": 32}
    with pytest.raises(UnpactConfigError, match=r"token_weighting='keytokens'.*'uniform'"):
        registry.check({**node, "token_weighting": "keytokens"})


def test_text_windows_take_the_previous_window_as_the_prompt() -> None:
    ids = [BOS, 11, 12, 13, 14, 15, 16, 17]  # targets at positions 1..7, windows of 3
    assert text_windows(ids, 3) == [
        ([BOS, 11, 12, 13], [14, 15, 16], ((1, 2), (2, 3), (3, 4)), 4),
        ([BOS, 14, 15, 16], [17], ((1, 2), (2, 3), (3, 4)), 7),
    ]
    assert text_windows([BOS, 11, 12], 3) == []  # one window: nothing before it


def test_raw_text_chunk_is_weighted_window_by_window() -> None:
    """Chunk <s> WORD KEY A: THE FACT </s>, windows of 3: window 1 (THE FACT </s>) has x =
    <s> WORD KEY A:, units WORD, KEY, A: with C = THE_DELTA/3, FACT_DELTA/3, THE_DELTA/3 (A:
    itself triggers THE's bonus), so K = {KEY} and its raw weights are [0, FACT_DELTA, 0]. The
    first window gets the mean of the later windows' weights, FACT_DELTA / 3."""
    chunk = torch.tensor([PROMPT + ANSWER])
    batch = {
        "input_ids": chunk,
        "labels": chunk.clone(),
        "attention_mask": torch.ones_like(chunk),
        "index": torch.tensor([0]),
    }
    weights = TokenWeights("keytoken", UNPACT, window=3, n_forget=1)
    prompts = ForgetPrompts(spans=None, filler_id=0, pad_id=PAD)
    weights.fill(
        OneFactModel(), [batch], lambda m, b: m(b["input_ids"], b["attention_mask"]), prompts
    )
    first = FACT_DELTA / 3
    expected = torch.tensor([[first, first, first, 0.0, FACT_DELTA, 0.0]])
    torch.testing.assert_close(weights.raw, expected)


def test_window_must_be_a_positive_integer() -> None:
    with pytest.raises(UnpactConfigError, match=r"method\.keytoken_window=0 is out of range"):
        TokenWeights("keytoken", UNPACT, window=0, n_forget=1)
