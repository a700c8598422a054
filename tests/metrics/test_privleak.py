"""MUSE's PrivLeak: Min-K% / Min-K%++ token statistics, the AUC and the relative score, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.privleak import (
    lowest_k_mean,
    privleak_auc,
    rank_auc,
    relative_privleak,
    text_scores,
    token_statistics,
)

# One position, two tokens with probabilities 1/4 and 3/4: logits (0, ln 3).
LOGITS = torch.tensor([[0.0, math.log(3.0)]])


def test_min_k_statistic_is_the_token_log_prob() -> None:
    stats = token_statistics(LOGITS, torch.tensor([0]), "min_k")
    assert stats.tolist() == pytest.approx([math.log(0.25)])
    stats = token_statistics(LOGITS, torch.tensor([1]), "min_k")
    assert stats.tolist() == pytest.approx([math.log(0.75)])


def test_min_k_plus_plus_standardises_by_the_next_token_distribution() -> None:
    """mu = 1/4 ln 1/4 + 3/4 ln 3/4 = -0.56233; E[log p^2] = 0.54252; sigma = 0.47571.

    (ln 1/4 - mu) / sigma = -1.7321 = -sqrt(3) and (ln 3/4 - mu) / sigma = 0.57735 = 1/sqrt(3):
    for two outcomes with probabilities q, 1 - q the standardised values are
    -sqrt((1 - q) / q) and sqrt(q / (1 - q)).
    """
    low = token_statistics(LOGITS, torch.tensor([0]), "min_k_plus_plus")
    high = token_statistics(LOGITS, torch.tensor([1]), "min_k_plus_plus")
    assert low.item() == pytest.approx(-math.sqrt(3.0), abs=1e-5)
    assert high.item() == pytest.approx(1.0 / math.sqrt(3.0), abs=1e-5)


def test_unknown_score_is_a_config_error() -> None:
    with pytest.raises(UnpactConfigError, match="privleak.score='mink'"):
        token_statistics(LOGITS, torch.tensor([0]), "mink")


def test_lowest_k_mean_takes_floor_k_n_values() -> None:
    values = [-3.0, -1.0, -2.0, 0.0, -5.0]
    assert lowest_k_mean(values, 0.4) == pytest.approx(-4.0)  # int(2.0) = 2: (-5 - 3) / 2
    assert lowest_k_mean(values, 0.6) == pytest.approx(-10.0 / 3)  # int(3.0): -5, -3, -2
    assert lowest_k_mean(values, 0.1) == -5.0  # int(0.5) = 0 -> the lowest one
    assert lowest_k_mean(values, 1.0) == pytest.approx(-11.0 / 5)
    assert math.isnan(lowest_k_mean([], 0.4))


def test_rank_auc_by_hand() -> None:
    # Pairs (pos, neg): 0.35>0.1 yes, 0.35>0.4 no, 0.8>0.1 yes, 0.8>0.4 yes: 3/4.
    assert rank_auc([0.1, 0.4], [0.35, 0.8]) == 0.75
    assert rank_auc([0.5], [0.5, 1.0]) == 0.75  # a tie counts one half
    assert rank_auc([1.0, 2.0], [0.0]) == 0.0
    assert math.isnan(rank_auc([], [1.0]))


def test_rank_auc_equals_sklearn_roc_auc_as_muse_computes_it() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    negatives = [0.3, -1.0, 0.3, 2.0, 0.7]
    positives = [0.3, 1.5, -2.0, 0.9]
    scores = negatives + positives
    labels = [0] * len(negatives) + [1] * len(positives)
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    assert rank_auc(negatives, positives) == pytest.approx(metrics.auc(fpr, tpr))


def test_relative_privleak_is_muse_formula() -> None:
    assert relative_privleak(0.25, 0.5) == -50.0
    assert relative_privleak(0.6, 0.4) == pytest.approx(50.0)
    assert relative_privleak(0.4772, 0.4772) == 0.0


def _manual_score(model, tokenizer, text: str, k: float) -> float:
    ids = torch.tensor([tokenizer(text).input_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    token = logp.gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1).tolist()
    return lowest_k_mean(token, k)


def test_text_scores_match_an_unpadded_forward_whatever_the_batch(tiny_llama, tokenizer) -> None:
    texts = [
        "Alice Smith was born in Paris.",
        "The quick brown fox jumps over the lazy dog near the river bank today.",
        "He is a baker in Rome.",
    ]
    expected = [_manual_score(tiny_llama, tokenizer, t, 0.4) for t in texts]
    for batch_size in (1, 3):
        got = text_scores(tiny_llama, tokenizer, texts, 0.4, "min_k", batch_size)
        assert got == pytest.approx(expected, abs=1e-5)


def test_privleak_auc_puts_holdout_texts_as_positives(tiny_llama, tokenizer) -> None:
    forget = ["Alice Smith was born in Paris.", "He is a baker in Rome."]
    holdout = ["The capital of France is Paris.", "Bob Jones's mother is Carol White."]
    neg = text_scores(tiny_llama, tokenizer, forget, 0.4, "min_k", 4)
    pos = text_scores(tiny_llama, tokenizer, holdout, 0.4, "min_k", 4)
    auc = privleak_auc(tiny_llama, tokenizer, forget, holdout, 0.4, "min_k", 4)
    assert auc == rank_auc(neg, pos)
    assert privleak_auc(tiny_llama, tokenizer, holdout, forget, 0.4, "min_k", 4) == 1 - auc


def _batch_forward_scores(model, tokenizer, texts, k, score, batch_size) -> list[float]:
    """The scores as computed before: the whole batch's logits from one full forward."""
    from unpact_exp.unpact.scoring import padding_id

    encoded = [tokenizer(t, add_special_tokens=True).input_ids for t in texts]
    scores = []
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        width = max(len(ids) for ids in chunk)
        ids = torch.full((len(chunk), width), padding_id(tokenizer), dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, row_ids in enumerate(chunk):
            ids[row, : len(row_ids)] = torch.tensor(row_ids)
            mask[row, : len(row_ids)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits
        for row, row_ids in enumerate(chunk):
            n = len(row_ids) - 1
            stats = token_statistics(logits[row, :n], ids[row, 1 : n + 1], score)
            scores.append(lowest_k_mean(stats.tolist(), k))
    return scores


@pytest.mark.parametrize("score", ["min_k", "min_k_plus_plus"])
def test_scores_are_identical_without_cache_and_batch_logits(
    tiny_llama, tokenizer, score, monkeypatch
) -> None:
    """The head runs on one text at a time and no KV cache is built; the scores equal, bit for
    bit, those of a full forward of the whole batch (the previous computation)."""
    texts = [
        "Alice Smith was born in Paris.",
        "The quick brown fox jumps over the lazy dog near the river bank today.",
        "He is a baker in Rome.",
        "Bob Jones's mother is Carol White.",
    ]
    want = _batch_forward_scores(tiny_llama, tokenizer, texts, 0.4, score, 3)
    head, decoder = tiny_llama.get_output_embeddings(), tiny_llama.model
    head_rows, cache_flags = [], []
    head_hook = head.register_forward_hook(lambda m, i, o: head_rows.append(i[0].shape))
    decoder_hook = decoder.register_forward_pre_hook(
        lambda m, a, kw: cache_flags.append(kw.get("use_cache")), with_kwargs=True
    )
    try:
        got = text_scores(tiny_llama, tokenizer, texts, 0.4, score, 3)
    finally:
        head_hook.remove()
        decoder_hook.remove()
    assert got == want
    assert cache_flags == [False, False]  # two batches, never a cache
    assert all(len(shape) == 2 for shape in head_rows) and len(head_rows) == len(texts)
