"""The membership-inference suite (metrics/mia.py): each score, the AUC and PrivLeak by hand."""

from __future__ import annotations

import math
import random

import pytest
import torch

from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.mia import (
    gradnorm_score,
    loss_score,
    mia_auc,
    min_k_plus_plus_score,
    min_k_score,
    privleak,
    reference_score,
    text_gradnorm,
    zlib_entropy,
    zlib_score,
)
from unpact_exp.metrics.privleak import (
    privleak_auc,
    rank_auc,
    relative_privleak,
    text_scores,
)


def test_loss_is_the_token_mean_nll() -> None:
    """l = (-1, -2, -3): -(-6)/3 = 2."""
    assert loss_score([-1.0, -2.0, -3.0]) == 2.0
    assert loss_score(torch.tensor([-0.5, -1.5])) == 1.0
    assert math.isnan(loss_score([]))


def test_zlib_divides_the_loss_by_the_compressed_length() -> None:
    """zlib("Paris"): 2 header bytes + deflate (3 block bits + 5 fixed-Huffman literals of 8 bits
    + a 7-bit end code = 50 bits -> 7 bytes) + 4 Adler-32 bytes = 13. Loss of (-1, -3) is 2,
    so the score is 2/13 = 0.153846."""
    assert zlib_entropy("Paris") == 13
    assert zlib_score([-1.0, -3.0], "Paris") == pytest.approx(2 / 13)


def test_reference_is_the_loss_difference() -> None:
    """Model loss (1 + 1)/2 = 1, reference loss (2 + 4)/2 = 3: 1 - 3 = -2."""
    assert reference_score([-1.0, -1.0], [-2.0, -4.0]) == -2.0
    with pytest.raises(ValueError, match="same tokens"):
        reference_score([-1.0], [-1.0, -2.0])


def test_min_k_is_minus_the_mean_of_the_lowest_fraction() -> None:
    """(-3, -1, -2, 0, -5), k = 0.4: floor(2.0) = 2 lowest, -5 and -3: -(-8/2) = 4."""
    assert min_k_score([-3.0, -1.0, -2.0, 0.0, -5.0], 0.4) == pytest.approx(4.0)
    assert min_k_score([-3.0, -1.0], 0.1) == 3.0  # floor(0.2) = 0 -> the lowest one
    with pytest.raises(UnpactConfigError, match="k=0"):
        min_k_score([-1.0], 0)


def test_min_k_plus_plus_standardises_then_takes_the_lowest() -> None:
    """Two positions with probabilities (1/4, 3/4) (logits 0, ln 3); targets 0 then 1.

    z = -sqrt(3) and 1/sqrt(3) (see test_privleak); k = 0.5 keeps floor(1.0) = 1 lowest value,
    -sqrt(3), so the score is sqrt(3) = 1.732051.
    """
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    score = min_k_plus_plus_score(logits, torch.tensor([0, 1]), 0.5)
    assert score == pytest.approx(math.sqrt(3.0), abs=1e-5)


def test_gradnorm_is_the_mean_per_tensor_norm() -> None:
    """Gradients (3, 4) and [[1, 0], [0, 0]], one frozen tensor (None).

    p = 2: norms 5 and 1, mean 3. p = 1: 7 and 1, mean 4. p = inf: 4 and 1, mean 2.5.
    """
    grads = [torch.tensor([3.0, 4.0]), torch.tensor([[1.0, 0.0], [0.0, 0.0]]), None]
    assert gradnorm_score(grads, 2) == pytest.approx(3.0)
    assert gradnorm_score(grads, 1) == pytest.approx(4.0)
    assert gradnorm_score(grads, float("inf")) == pytest.approx(2.5)
    with pytest.raises(UnpactConfigError, match="p=3"):
        gradnorm_score(grads, 3)


def test_text_gradnorm_backpropagates_the_text_loss(tiny_llama, tokenizer) -> None:
    """The helper equals the norms of a manual backward, and leaves no gradient behind."""
    from unpact_exp.methods.token_logprobs import mean_nll

    ids = torch.tensor([tokenizer("Alice Smith was born in Paris.").input_ids])
    labels = ids.clone()
    labels[0, :2] = -100
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    score = text_gradnorm(tiny_llama, batch, 2)
    assert all(p.grad is None for p in tiny_llama.parameters())
    mean_nll(tiny_llama(input_ids=ids).logits, labels).backward()
    manual = [p.grad.norm() for p in tiny_llama.parameters() if p.grad is not None]
    tiny_llama.zero_grad(set_to_none=True)
    assert score == pytest.approx(float(torch.stack(manual).mean()), rel=1e-5)


def test_mia_auc_by_hand() -> None:
    """Forget (0.1, 0.4) vs holdout (0.35, 0.8): pairs (h > f) 0.35>0.1, 0.8>0.1, 0.8>0.4 and
    not 0.35>0.4: 3/4. A tie counts one half: forget (0.5), holdout (0.5, 1.0): (0.5 + 1)/2."""
    assert mia_auc([0.1, 0.4], [0.35, 0.8]) == 0.75
    assert mia_auc([0.5], [0.5, 1.0]) == 0.75
    assert mia_auc([2.0, 3.0], [0.0]) == 0.0  # every forget text scores above the holdout one
    assert math.isnan(mia_auc([], [1.0]))
    assert mia_auc([math.nan, 0.1], [0.5]) == 1.0  # a text without a score is left out
    assert math.isnan(mia_auc([math.nan], [0.5]))


def _pairs_auc(negatives: list[float], positives: list[float]) -> float:
    """The Mann-Whitney double loop PrivLeak's rank_auc used to be: P(pos > neg) + ties / 2."""
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def test_mia_auc_and_rank_auc_equal_the_double_loop_with_ties() -> None:
    """sklearn's roc_auc_score (mia_auc, and PrivLeak's rank_auc, which now calls it) equals
    the pairwise count on many ties."""
    rng = random.Random(3)
    forget = [rng.choice([0.0, 0.5, 1.0, 1.5]) for _ in range(40)]
    holdout = [rng.choice([0.0, 0.5, 1.0, 2.0]) for _ in range(30)]
    want = _pairs_auc(forget, holdout)
    assert mia_auc(forget, holdout) == pytest.approx(want, abs=1e-12)
    assert rank_auc(forget, holdout) == pytest.approx(want, abs=1e-12)


def test_privleak_converts_to_muse_auc() -> None:
    """auc 0.75 -> MUSE's 0.25; retrain 0.5 -> 0.5: (0.25 - 0.5) / 0.5 * 100 = -50."""
    assert privleak(0.75, 0.5) == pytest.approx(-50.0)
    assert privleak(0.5, 0.5) == 0.0


def _token_logprobs(model, tokenizer, text: str) -> list[float]:
    ids = torch.tensor([tokenizer(text).input_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    return logp.gather(-1, ids[0, 1:].unsqueeze(-1)).squeeze(-1).tolist()


def test_privleak_from_min_k_equals_todays_privleak(tiny_factory, tokenizer) -> None:
    """The suite's Min-K% AUC and PrivLeak reproduce metrics/privleak.py's numbers exactly."""
    forget = ["Alice Smith was born in Paris.", "He is a baker in Rome."]
    holdout = ["The capital of France is Paris.", "Bob Jones's mother is Carol White."]
    unlearned, retrained = tiny_factory(0), tiny_factory(1)

    def suite_auc(model) -> float:
        scores = {
            name: [min_k_score(_token_logprobs(model, tokenizer, t), 0.4) for t in texts]
            for name, texts in (("forget", forget), ("holdout", holdout))
        }
        return mia_auc(scores["forget"], scores["holdout"])

    today = privleak_auc(unlearned, tokenizer, forget, holdout, 0.4, "min_k", 4)
    today_retrain = privleak_auc(retrained, tokenizer, forget, holdout, 0.4, "min_k", 4)
    auc, auc_retrain = suite_auc(unlearned), suite_auc(retrained)
    assert 1 - auc == pytest.approx(today, abs=1e-12)
    assert privleak(auc, auc_retrain) == pytest.approx(
        relative_privleak(today, today_retrain), abs=1e-9
    )
    # The per-text scores are today's Min-K% scores with the sign flipped.
    suite = [min_k_score(_token_logprobs(unlearned, tokenizer, t), 0.4) for t in forget]
    today_scores = text_scores(unlearned, tokenizer, forget, 0.4, "min_k", 4)
    assert suite == pytest.approx([-s for s in today_scores], abs=1e-5)
