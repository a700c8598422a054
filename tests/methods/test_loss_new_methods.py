"""Hand-worked tests of SimNPO, IdkDPO (DPO) and UNDIAL, and equality with the peers' formulas.

The peers' formulas are written out here in tensor operations, line for line from
open-unlearning's ``src/trainer/utils.py`` (``compute_batch_nll``, ``compute_dpo_loss``,
``compute_undial_loss``) and ``src/trainer/unlearn/simnpo.py``; they are not imported.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.idkdpo import dpo_loss, refusal_choice
from unpact_exp.methods.simnpo import simnpo_loss
from unpact_exp.methods.token_logprobs import IGNORE_INDEX, sequence_logprob
from unpact_exp.methods.undial import undial_loss

X = IGNORE_INDEX
# Two tokens with probabilities 1/4 (token 0) and 3/4 (token 1) at every position.
LOGITS = torch.tensor([0.0, math.log(3.0)]).expand(2, 3, 2).clone()


def batch_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """open-unlearning's compute_batch_nll on given logits: summed NLL per sequence."""
    shifted_labels = labels[..., 1:]
    logits = logits[..., :-1, :]
    loss_function = torch.nn.CrossEntropyLoss(ignore_index=-100, reduction="none")
    return loss_function(logits.transpose(-1, -2), shifted_labels).sum(dim=-1)


def test_simnpo_hand_worked() -> None:
    """Row 0: targets (1, 1), NLL/|y| = -ln 3/4 = 0.287682. Row 1: target 0, NLL = ln 4 = 1.386294.

    beta = 2, gamma = 0.5: beta * (NLL/|y| - gamma) = (-0.424636, 1.772589);
    log sigmoid = (-ln(1 + e^0.424636), -ln(1 + e^-1.772589)) = (-0.927837, -0.156912);
    loss = -(2/2) * mean = (0.927837 + 0.156912) / 2 = 0.542375.
    """
    labels = torch.tensor([[X, 1, 1], [X, 0, X]])
    loss = simnpo_loss(LOGITS, labels, beta=2.0, gamma=0.5)
    expected = (math.log(1 + math.exp(0.4246359)) + math.log(1 + math.exp(-1.7725887))) / 2
    assert expected == pytest.approx(0.542375, abs=1e-6)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_simnpo_at_the_margin_is_two_over_beta_log2_and_falls_with_the_nll() -> None:
    """NLL/|y| = gamma gives -(2/beta) log sigmoid(0) = (2/beta) log 2; a less likely answer
    (row with target 0: NLL ln 4 > ln 4/3) has the lower loss."""
    labels = torch.tensor([[X, 1, 1]])
    at_margin = simnpo_loss(LOGITS[:1], labels, beta=0.5, gamma=-math.log(0.75))
    assert at_margin.item() == pytest.approx(4 * math.log(2), abs=1e-6)
    likely = simnpo_loss(LOGITS[:1], labels, beta=0.5, gamma=0.0)
    unlikely = simnpo_loss(LOGITS[:1], torch.tensor([[X, 0, 0]]), beta=0.5, gamma=0.0)
    assert unlikely < likely


def test_simnpo_equals_open_unlearnings_with_delta() -> None:
    """open-unlearning: nll / n_tokens - delta, then -logsigmoid(beta * .).mean() * 2 / beta."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 7, generator=gen)
    labels = torch.tensor([[X, X, 3, 1, 2], [X, 4, 4, X, X], [X, X, X, 6, 0]])
    beta, delta = 3.5, 0.7
    loss_mask = labels != -100
    forget_loss = batch_nll(logits, labels) / loss_mask.sum(-1) - delta
    peer = -F.logsigmoid(beta * forget_loss).mean() * 2 / beta
    torch.testing.assert_close(simnpo_loss(logits, labels, beta, delta), peer)


def test_simnpo_refuses_a_bad_beta() -> None:
    with pytest.raises(UnpactConfigError, match="method.beta=0"):
        simnpo_loss(LOGITS, torch.tensor([[X, 1, 1], [X, 1, 1]]), beta=0, gamma=0.0)


def test_dpo_hand_worked() -> None:
    """win: policy (-2, -1), ref (-3, -1) -> ratios (1, 0); lose: policy (-5, -2), ref (-4, -2)
    -> (-1, 0). beta = 0.5: beta * (win - lose) = (1, 0); log sigmoid = (-0.313262, -0.693147);
    loss = -(2/0.5) * mean = 4 * 0.503204 = 2.012818 = 2 (log 2 + log(1 + e^-1))."""
    t = torch.tensor
    loss = dpo_loss(t([-2.0, -1.0]), t([-3.0, -1.0]), t([-5.0, -2.0]), t([-4.0, -2.0]), 0.5)
    expected = 2 * (math.log(2.0) + math.log(1 + math.exp(-1.0)))
    assert expected == pytest.approx(2.012818, abs=1e-6)
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_dpo_at_the_reference_is_two_over_beta_log2() -> None:
    seq = torch.tensor([-4.0, -9.0])
    loss = dpo_loss(seq, seq.clone(), seq - 1, seq - 1, 0.1)
    assert loss.item() == pytest.approx(20 * math.log(2), rel=1e-6)


def test_dpo_equals_open_unlearnings_compute_dpo_loss() -> None:
    """open-unlearning: ratio = -(nll - ref_nll) per side, then
    -2/beta * logsigmoid(beta * (w - l)).mean()."""
    gen = torch.Generator().manual_seed(1)
    pol_w, ref_w, pol_l, ref_l = (torch.randn(2, 4, 6, generator=gen) for _ in range(4))
    lab_w = torch.tensor([[X, 2, 3, 1], [X, X, 5, 0]])
    lab_l = torch.tensor([[X, 4, 4, X], [X, X, 1, 2]])
    win_log_ratio = -(batch_nll(pol_w, lab_w) - batch_nll(ref_w, lab_w))
    lose_log_ratio = -(batch_nll(pol_l, lab_l) - batch_nll(ref_l, lab_l))
    beta = 0.1
    peer = -2 / beta * F.logsigmoid(beta * (win_log_ratio - lose_log_ratio)).mean()
    ours = dpo_loss(
        sequence_logprob(pol_w, lab_w),
        sequence_logprob(ref_w, lab_w),
        sequence_logprob(pol_l, lab_l),
        sequence_logprob(ref_l, lab_l),
        beta,
    )
    torch.testing.assert_close(ours, peer)


def test_refusals_are_seeded_and_fixed() -> None:
    assert refusal_choice(6, 3, seed=0) == refusal_choice(6, 3, seed=0)
    assert all(0 <= c < 3 for c in refusal_choice(50, 3, seed=1))
    assert refusal_choice(50, 3, seed=1) != refusal_choice(50, 3, seed=2)


def test_undial_hand_worked() -> None:
    """One target position, V = 3: teacher logits (0, 0, 0), target 0, strength ln 4.

    Adjusted logits (-ln 4, 0, 0): q = (1/4, 1, 1) / (9/4) = (1/9, 4/9, 4/9).
    Student logits (0, 0, 0): log p = -ln 3 each, CE = ln 3 = 1.098612.
    Student = log q: CE = H(q) = (1/9) ln 9 + (8/9) ln(9/4) = 0.244136 + 0.720827 = 0.964963,
    the minimum.
    """
    teacher = torch.zeros(1, 2, 3)
    labels = torch.tensor([[X, 0]])
    uniform = undial_loss(torch.zeros(1, 2, 3), teacher, labels, math.log(4.0))
    assert uniform.item() == pytest.approx(math.log(3.0), abs=1e-6)
    q = torch.tensor([1 / 9, 4 / 9, 4 / 9])
    student = q.log().expand(1, 2, 3)
    best = undial_loss(student, teacher, labels, math.log(4.0))
    entropy = (1 / 9) * math.log(9) + (8 / 9) * math.log(9 / 4)
    assert entropy == pytest.approx(0.964963, abs=1e-6)
    assert best.item() == pytest.approx(entropy, abs=1e-6)


def test_undial_ignores_prompt_and_padding_positions() -> None:
    """Changing the student's logits where no target is predicted leaves the loss unchanged."""
    gen = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(1, 4, 5, generator=gen), torch.randn(1, 4, 5, generator=gen)
    labels = torch.tensor([[X, X, 3, X]])  # only position 1 predicts a target
    base = undial_loss(student, teacher, labels, 5.0)
    moved = student.clone()
    moved[0, [0, 2, 3]] += torch.randn(3, 5, generator=gen)
    torch.testing.assert_close(undial_loss(moved, teacher, labels, 5.0), base)


def open_unlearning_undial(logits, teacher_logits, labels, beta):
    """compute_undial_loss on given logits (every position of the batch is averaged)."""
    shift_labels = labels[..., 1:]
    shift_logits = logits[..., :-1, :]
    shift_teacher_logits = teacher_logits[..., :-1, :]
    mask = torch.zeros_like(shift_teacher_logits)
    batch_idx = torch.arange(mask.shape[0]).view(-1, 1, 1)
    seq_idx = torch.arange(mask.shape[1]).view(1, -1, 1)
    mask[batch_idx, seq_idx, shift_labels.unsqueeze(-1)] = 1.0
    soft_label = F.softmax(shift_teacher_logits - mask * beta, dim=-1)
    loss = torch.nn.CrossEntropyLoss(reduction="none")(
        shift_logits.reshape(-1, shift_logits.size(-1)), soft_label.reshape(-1, soft_label.size(-1))
    )
    return loss.mean()


def test_undial_equals_open_unlearnings_when_every_position_is_a_target() -> None:
    gen = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(2, 5, 8, generator=gen), torch.randn(2, 5, 8, generator=gen)
    labels = torch.tensor([[X, 1, 2, 3, 4], [X, 7, 0, 5, 5]])
    torch.testing.assert_close(
        undial_loss(student, teacher, labels, 10.0),
        open_unlearning_undial(student, teacher, labels, 10.0),
    )
    # With prompt positions their mean also counts them (and -100 picks vocabulary entry V-100):
    # a different number from ours, which averages the 5 target positions only.
    student, teacher = torch.randn(2, 5, 200, generator=gen), torch.randn(2, 5, 200, generator=gen)
    prompt = torch.tensor([[X, X, 2, 3, 4], [X, X, X, 5, 5]])
    ours = undial_loss(student, teacher, prompt, 10.0)
    theirs = open_unlearning_undial(student, teacher, prompt, 10.0)
    assert abs(float(ours) - float(theirs)) > 1e-3
