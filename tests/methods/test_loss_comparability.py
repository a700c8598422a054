"""Comparability options (docs/science.md §12): each reproduces another framework's formula.

The peers' formulas are rewritten here from their code, line for line in tensor operations:
MUSE (swj0419/muse_bench) ``baselines/baselines/iterative.py`` (``npo`` and ``klr`` on raw logits);
open-unlearning (locuslab/open-unlearning) ``src/trainer/utils.py::compute_kl_divergence`` and
``src/trainer/unlearn/rmu.py::RMU.compute_activation_loss``; WMDP (centerforaisafety/wmdp)
``rmu/unlearn.py`` (``torch.nn.functional.mse_loss`` over the whole padded batch); TOFU/
open-unlearning's ROUGE with ``rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.correctness import is_correct, rouge_l
from unpact_exp.methods.npo import npo_loss, npo_muse_loss
from unpact_exp.methods.regularizers import (
    build_regularizer,
    check_forget_weight,
    kl_loss,
    kl_muse_loss,
)
from unpact_exp.methods.rmu import check_reduction, make_control_vector, rmu_loss, rmu_mask
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, sequence_logprob
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
    reg = build_regularizer(
        {"name": "kl", "weight": 0.5, "positions": "all", "formula": "standard"}
    )
    assert reg.positions == "all" and reg.weight == 0.5
    with pytest.raises(UnpactConfigError, match="regularizer.positions='every'.*answer"):
        build_regularizer({"name": "kl", "weight": 1.0, "positions": "every", "formula": "muse"})
    with pytest.raises(UnpactConfigError, match="regularizer.positions is missing"):
        build_regularizer({"name": "kl", "weight": 1.0, "formula": "standard"})
    with pytest.raises(UnpactConfigError, match="regularizer.formula='mus'.*muse"):
        build_regularizer({"name": "kl", "weight": 1.0, "positions": "all", "formula": "mus"})
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


def muse_npo(policy_logits: torch.Tensor, ref_logits: torch.Tensor, beta: float) -> torch.Tensor:
    """MUSE's ``npo``: neg_log_ratio = ref.logits - logits, then
    -logsigmoid(beta * neg_log_ratio).mean() * 2 / beta."""
    neg_log_ratio = ref_logits - policy_logits
    return -F.logsigmoid(beta * neg_log_ratio).mean() * 2 / beta


def muse_klr(policy_logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """MUSE's ``klr``: F.kl_div(outputs_r.logits, outputs_r_ref.logits, batchmean, log_target)."""
    return F.kl_div(policy_logits, ref_logits, reduction="batchmean", log_target=True)


def test_npo_muse_formula_by_hand() -> None:
    """One position, V = 2: ref logits (0, 1), policy (0, -1), beta = 1.

    ref - policy = (0, 2); log sigmoid = (-ln 2, -ln(1 + e^-2)) = (-0.693147, -0.126928);
    mean = -0.410038; loss = -(2/1) * mean = 0.820075.
    """
    ref, pol = torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[0.0, -1.0]]])
    expected = math.log(2.0) + math.log(1 + math.exp(-2.0))
    assert expected == pytest.approx(0.820075, abs=1e-6)
    assert npo_muse_loss(pol, ref, 1.0).item() == pytest.approx(expected, abs=1e-6)


def test_npo_muse_formula_is_muses_npo_and_not_the_standard_one() -> None:
    """On the hand-made forget batch, method.formula=muse is MUSE's npo; the standard NPO (the
    paper's sequence log-probs) gives another number."""
    torch.testing.assert_close(npo_muse_loss(POL, REF, 0.1), muse_npo(POL, REF, 0.1))
    standard = npo_loss(sequence_logprob(POL, LABELS), sequence_logprob(REF, LABELS), 0.1)
    assert abs(float(standard) - float(muse_npo(POL, REF, 0.1))) > 1e-2


def test_kl_muse_formula_by_hand() -> None:
    """One position, V = 2: ref logits (0, -1), policy (-1, 0).

    exp(ref) * (ref - policy) = (1 * 1, e^-1 * -1) -> 1 - 0.367879 = 0.632121; B = 1.
    Two identical rows: the sum doubles and batchmean divides by B = 2: the same 0.632121.
    """
    ref, pol = torch.tensor([[[0.0, -1.0]]]), torch.tensor([[[-1.0, 0.0]]])
    assert kl_muse_loss(ref, pol).item() == pytest.approx(1 - math.exp(-1.0), abs=1e-6)
    two = kl_muse_loss(ref.expand(2, 1, 2), pol.expand(2, 1, 2))
    assert two.item() == pytest.approx(1 - math.exp(-1.0), abs=1e-6)


def test_kl_muse_formula_is_muses_klr_and_not_the_standard_one() -> None:
    torch.testing.assert_close(kl_muse_loss(REF, POL), muse_klr(POL, REF))
    standard = kl_loss(REF, POL, LABELS, "answer", None)
    assert abs(float(standard) - float(muse_klr(POL, REF))) > 1e-2


class _Ctx:
    """A method context whose two 'models' return fixed logits."""

    def __init__(self, policy_logits: torch.Tensor, ref_logits: torch.Tensor) -> None:
        self.policy = lambda batch: policy_logits
        self.reference = lambda batch: ref_logits
        self.device = torch.device("cpu")

    @staticmethod
    def forward_batch(model, batch):
        return SimpleNamespace(logits=model(batch))


def test_npo_and_kl_objects_use_muses_formulas_when_asked() -> None:
    """The registered NPO and the kl regularizer, built with formula=muse, compute MUSE's numbers
    from the reference's logits (NPO then needs the reference model loaded)."""
    from unpact_exp.methods.npo import NPO

    npo = NPO(0.1, "uniform", 1.0, {}, 8, n_forget=2, forget_prompts=None, formula="muse")
    assert npo.needs_reference
    batch = {"labels": LABELS, "index": torch.tensor([0, 1]), "attention_mask": FULL}
    loss, _ = npo.loss(_Ctx(POL, REF), batch, None)
    torch.testing.assert_close(loss, muse_npo(POL, REF, 0.1))
    plain = NPO(0.1, "uniform", 1.0, {}, 8, n_forget=2, forget_prompts=None, formula="standard")
    assert not plain.needs_reference
    reg = build_regularizer({"name": "kl", "weight": 1.0, "positions": "answer", "formula": "muse"})
    torch.testing.assert_close(reg.loss(_Ctx(POL, REF), batch), muse_klr(POL, REF))
    with pytest.raises(UnpactConfigError, match="token_weighting=uniform"):
        NPO(0.1, "keytoken", 1.0, {}, 8, n_forget=2, forget_prompts=None, formula="muse")
