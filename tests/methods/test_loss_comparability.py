"""Comparability options (docs/science.md §12): each reproduces another framework's formula.

The peers' formulas are rewritten here from their code, line for line in tensor operations:
open-unlearning (locuslab/open-unlearning) ``src/trainer/utils.py::compute_kl_divergence`` and
``src/trainer/unlearn/rmu.py::RMU.compute_activation_loss``; WMDP (centerforaisafety/wmdp)
``rmu/unlearn.py`` (``torch.nn.functional.mse_loss`` over the whole padded batch); TOFU/
open-unlearning's ROUGE with ``rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.correctness import is_correct, rouge_l
from unpact_exp.methods.regularizers import build_regularizer, check_forget_weight, kl_loss
from unpact_exp.methods.rmu import check_reduction, make_control_vector, rmu_loss, rmu_mask
from unpact_exp.methods.token_logprobs import IGNORE_INDEX
from unpact_exp.metrics.knowmem import knowmem_score

GEN = torch.Generator().manual_seed(7)
REF = torch.randn(2, 4, 5, generator=GEN)
POL = torch.randn(2, 4, 5, generator=GEN)
# Retain QA rows: prompt tokens ignored, answers at positions 2-3 and 1-3; no padding.
LABELS = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 3, 1], [IGNORE_INDEX, 2, 2, 4]])
FULL = torch.ones(2, 4, dtype=torch.long)


def open_unlearning_kl(ref_logits: torch.Tensor, policy_logits: torch.Tensor) -> torch.Tensor:
    """open-unlearning's compute_kl_divergence on given logits (no model calls)."""
    ref = F.log_softmax(ref_logits, dim=-1).view(-1, ref_logits.shape[-1])
    cur = F.log_softmax(policy_logits, dim=-1).view(-1, policy_logits.shape[-1])
    return F.kl_div(cur, ref, reduction="batchmean", log_target=True)


def test_kl_all_positions_is_open_unlearnings_kl() -> None:
    ours = kl_loss(REF, POL, LABELS, "all", FULL)
    torch.testing.assert_close(ours, open_unlearning_kl(REF, POL))
    # The default averages over the 5 answer positions only: a different number.
    answer = kl_loss(REF, POL, LABELS, "answer", None)
    assert abs(float(answer) - float(ours)) > 1e-3


def test_kl_all_positions_skips_padding() -> None:
    """Row 1 padded after 2 tokens: ours = open-unlearning's KL over the 6 real positions."""
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    real = mask.bool()
    expected = open_unlearning_kl(REF[real][None], POL[real][None])
    torch.testing.assert_close(kl_loss(REF, POL, LABELS, "all", mask), expected)


def test_kl_positions_is_bound_from_the_regularizer_node() -> None:
    reg = build_regularizer({"name": "kl", "weight": 0.5, "positions": "all"})
    assert reg.positions == "all" and reg.weight == 0.5
    with pytest.raises(UnpactConfigError, match="regularizer.positions='every'.*answer"):
        build_regularizer({"name": "kl", "weight": 1.0, "positions": "every"})
    with pytest.raises(UnpactConfigError, match="regularizer.positions is missing"):
        build_regularizer({"name": "kl", "weight": 1.0})
    with pytest.raises(UnpactConfigError, match="regularizer.positions is not a setting of"):
        build_regularizer({"name": "gd", "weight": 1.0, "positions": "all"})


# RMU: hidden states [2, 4, 3]; row 0 has 3 real tokens (answer: last 2), row 1 has 4 (answer: 1).
ACT_F = torch.randn(2, 4, 3, generator=GEN)
ACT_R = torch.randn(2, 4, 3, generator=GEN)
FROZEN = torch.randn(2, 4, 3, generator=GEN)
U = make_control_vector(3, 0, torch.float32)
BATCH = {
    "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]]),
    "labels": torch.tensor([[IGNORE_INDEX, 5, 6, IGNORE_INDEX], [IGNORE_INDEX] * 3 + [7]]),
}


def test_rmu_all_positions_is_the_wmdp_code() -> None:
    """WMDP: F.mse_loss(updated_forget_activations, control_vec) over the padded batch."""
    mask = rmu_mask(BATCH, "all_positions")
    _, forget, retain = rmu_loss(ACT_F, ACT_R, FROZEN, U, 6.5, 100.0, mask, mask, "all_positions")
    torch.testing.assert_close(forget, F.mse_loss(ACT_F, (6.5 * U).expand_as(ACT_F)))
    torch.testing.assert_close(retain, 100.0 * F.mse_loss(ACT_R, FROZEN))


def open_unlearning_activation_loss(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor):
    """open-unlearning's RMU.compute_activation_loss, literally."""
    squared_diff = F.mse_loss(a, b, reduction="none")
    expanded_mask = mask.unsqueeze(-1).expand_as(squared_diff)
    squared_diff_sum = (squared_diff * expanded_mask).mean(dim=2).sum(dim=(1))
    num_tokens = mask.sum(dim=-1, keepdim=True)
    return (squared_diff_sum / num_tokens).mean()


def test_rmu_sequence_is_open_unlearnings_per_sequence_mean() -> None:
    """With the same answer length in every row (2 and 2), the literal code and ours agree."""
    labels = torch.tensor([[IGNORE_INDEX, 5, 6, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 7, 8]])
    batch = {"attention_mask": BATCH["attention_mask"], "labels": labels}
    mask = rmu_mask(batch, "sequence")
    target = (6.5 * U).expand_as(ACT_F)
    _, forget, retain = rmu_loss(ACT_F, ACT_R, FROZEN, U, 6.5, 100.0, mask, mask, "sequence")
    torch.testing.assert_close(forget, open_unlearning_activation_loss(ACT_F, target, mask))
    torch.testing.assert_close(retain, 100.0 * open_unlearning_activation_loss(ACT_R, FROZEN, mask))


def test_rmu_sequence_with_unequal_answer_lengths_is_the_mean_of_sequence_means() -> None:
    """Answers of 2 and 1 tokens. Ours: mean(s_0 / 2, s_1 / 1). open-unlearning's code divides
    a [B] tensor by a [B, 1] one, which broadcasts to [B, B]: mean_ij s_i / n_j, a different
    number whenever the answer lengths differ (documented in notes/issue-16.md)."""
    mask = rmu_mask(BATCH, "sequence")
    target = (6.5 * U).expand_as(ACT_F)
    per_position = (ACT_F - target).pow(2).mean(-1)
    s = (per_position * mask).sum(-1)
    _, forget, _ = rmu_loss(ACT_F, ACT_R, FROZEN, U, 6.5, 100.0, mask, mask, "sequence")
    torch.testing.assert_close(forget, (s / torch.tensor([2.0, 1.0])).mean())
    literal = open_unlearning_activation_loss(ACT_F, target, mask)
    torch.testing.assert_close(literal, s.sum() * (1 / 2 + 1 / 1) / 4)
    assert abs(float(literal) - float(forget)) > 1e-3


def test_rmu_tokens_is_the_default_attention_mask_mean() -> None:
    mask = rmu_mask(BATCH, "tokens")
    real = BATCH["attention_mask"].bool()
    _, forget, _ = rmu_loss(ACT_F, ACT_R, FROZEN, U, 6.5, 1.0, mask, mask, "tokens")
    torch.testing.assert_close(forget, F.mse_loss(ACT_F[real], (6.5 * U).expand(7, 3)))


def test_rmu_reduction_error_names_the_choices() -> None:
    with pytest.raises(UnpactConfigError, match="method.reduction='mean'.*all_positions"):
        check_reduction("mean")


def test_rouge_stemming_is_rouge_score_with_use_stemmer() -> None:
    from rouge_score import rouge_scorer

    gold, output = "capitals of France", "the capital of France"
    peer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(gold, output)["rougeL"]
    assert rouge_l(gold, output, stemming=True) == pytest.approx((peer.recall, peer.fmeasure))
    # Unstemmed, "capitals" and "capital" differ: recall 2/3 instead of 3/3.
    assert rouge_l(gold, output, stemming=False)[0] == pytest.approx(2 / 3)
    assert peer.recall == pytest.approx(1.0)
    assert is_correct("capitals", "the capital", 0.5, stemming=True)
    assert not is_correct("capitals", "the capital", 0.5, stemming=False)
    assert knowmem_score(["capitals"], ["capital"], stemming=True) == pytest.approx(100.0)


@pytest.mark.parametrize("bad", [0, -1.0])
def test_forget_weight_must_be_a_positive_number(bad) -> None:
    with pytest.raises(UnpactConfigError, match="method.forget_weight"):
        check_forget_weight(bad)


@pytest.mark.parametrize("bad", [float("nan"), "2", True])
def test_forget_weight_must_be_a_finite_number_in_the_config(bad) -> None:
    from unpact_exp.methods import registry

    node = {"name": "ga", "lr": 1e-5, "weight_decay": 0.0, "batch_size": 4}
    node |= {"forget_nll_stop": None, "keytoken_window": 32, "token_weighting": "uniform"}
    with pytest.raises(UnpactConfigError, match=r"^method\.forget_weight="):
        registry.check({**node, "forget_weight": bad})
