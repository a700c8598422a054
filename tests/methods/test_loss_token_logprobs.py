"""Hand-worked tests of the causal shift, -100 masking and reductions in token_logprobs.py.

The logits are built as ``log(p)`` for probability rows ``p`` that sum to 1, so the log-softmax of
each row is exactly ``log(p)`` and every expected value below can be worked out by hand.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.methods import IGNORE_INDEX, mean_nll, sequence_logprob, token_logprobs

LOG2 = math.log(2.0)


def probs_to_logits(rows: list[list[float]]) -> torch.Tensor:
    """``[T, V]`` probability rows -> ``[1, T, V]`` logits whose log-softmax is ``log(rows)``."""
    return torch.tensor(rows, dtype=torch.float32).log().unsqueeze(0)


# position 0: p = [1/2, 1/4, 1/4]; position 1: p = [1/4, 1/2, 1/4]; position 2: never used.
ROWS = [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]]


def test_token_logprobs_hand_worked() -> None:
    """labels = [-100, 0, 2], V = 3, T = 3.

    Causal shift: logits[0] score labels[1] = 0, logits[1] score labels[2] = 2.
      logp[0] = log p_0(0) = log 1/2 = -log 2 = -0.693147
      logp[1] = log p_1(2) = log 1/4 = -2 log 2 = -1.386294
    sequence_logprob = -3 log 2 = -2.079442; mean_nll = 3 log 2 / 2 = 1.039721.
    """
    logits = probs_to_logits(ROWS)
    labels = torch.tensor([[IGNORE_INDEX, 0, 2]])
    logp, mask = token_logprobs(logits, labels)
    assert logp.shape == (1, 2) and mask.shape == (1, 2)
    assert mask.dtype == torch.bool and mask.tolist() == [[True, True]]
    torch.testing.assert_close(logp, torch.tensor([[-LOG2, -2 * LOG2]]))
    torch.testing.assert_close(sequence_logprob(logits, labels), torch.tensor([-3 * LOG2]))
    torch.testing.assert_close(mean_nll(logits, labels), torch.tensor(1.5 * LOG2))


def test_ignored_target_is_masked() -> None:
    """labels = [-100, 0, -100]: only logits[0] -> labels[1] = 0 counts.

    logp = [log 1/2, 0], mask = [True, False]; sequence_logprob = -log 2; mean_nll = log 2 (one
    token). Changing logits[1] (which would score the ignored labels[2]) changes nothing.
    """
    logits = probs_to_logits(ROWS)
    labels = torch.tensor([[IGNORE_INDEX, 0, IGNORE_INDEX]])
    logp, mask = token_logprobs(logits, labels)
    assert mask.tolist() == [[True, False]]
    torch.testing.assert_close(logp, torch.tensor([[-LOG2, 0.0]]))
    torch.testing.assert_close(sequence_logprob(logits, labels), torch.tensor([-LOG2]))
    torch.testing.assert_close(mean_nll(logits, labels), torch.tensor(LOG2))
    other = logits.clone()
    other[0, 1] = torch.tensor([5.0, -3.0, 1.0])
    torch.testing.assert_close(mean_nll(other, labels), torch.tensor(LOG2))


def test_last_position_logits_and_first_label_unused() -> None:
    """logits[:, -1] predict a token past the end and labels[:, 0] has no predictor: both unused."""
    logits = probs_to_logits(ROWS)
    labels = torch.tensor([[1, 0, 2]])  # labels[0] = 1 is not a target even though it is not -100
    other = logits.clone()
    other[0, 2] = torch.tensor([9.0, -9.0, 0.0])
    for fn in (mean_nll, sequence_logprob):
        torch.testing.assert_close(fn(other, labels), fn(logits, labels))
    torch.testing.assert_close(mean_nll(logits, labels), torch.tensor(1.5 * LOG2))


def test_mean_nll_is_batch_token_mean_not_mean_of_sequence_means() -> None:
    """Sequence A: labels [-100, 0, 2] -> NLLs log 2, 2 log 2 (2 tokens).
    Sequence B: labels [-100, -100, 1] -> logits[1] scores 1: NLL log 2 (1 token).

    Token mean  = (log 2 + 2 log 2 + log 2) / 3 = 4/3 log 2 = 0.924196.
    (Mean of per-sequence means would be (1.5 log 2 + log 2) / 2 = 1.25 log 2 = 0.866434.)
    """
    logits = probs_to_logits(ROWS).repeat(2, 1, 1)
    labels = torch.tensor([[IGNORE_INDEX, 0, 2], [IGNORE_INDEX, IGNORE_INDEX, 1]])
    torch.testing.assert_close(mean_nll(logits, labels), torch.tensor(4 / 3 * LOG2))
    torch.testing.assert_close(sequence_logprob(logits, labels), torch.tensor([-3 * LOG2, -LOG2]))


def test_mean_nll_matches_huggingface_cross_entropy() -> None:
    """Same number as HF's causal-LM loss: cross_entropy on the shifted, flattened tensors."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 11, generator=gen)
    labels = torch.randint(0, 11, (3, 6), generator=gen)
    labels[0, :3] = IGNORE_INDEX
    labels[2, 4:] = IGNORE_INDEX
    expected = F.cross_entropy(
        logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
    )
    torch.testing.assert_close(mean_nll(logits, labels), expected)


def test_no_target_gives_zero_not_nan() -> None:
    logits = torch.zeros(2, 3, 4, requires_grad=True)
    labels = torch.full((2, 3), IGNORE_INDEX)
    loss = mean_nll(logits, labels)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_bf16_logits_give_float32_logprobs() -> None:
    logits = probs_to_logits(ROWS).to(torch.bfloat16)
    logp, _ = token_logprobs(logits, torch.tensor([[IGNORE_INDEX, 0, 2]]))
    assert logp.dtype == torch.float32


def test_shape_errors_name_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[batch, seq, vocab\]"):
        token_logprobs(torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        token_logprobs(torch.zeros(2, 4, 3), torch.zeros(2, 5, dtype=torch.long))
