"""Hand-worked tests of the retain regularizers (regularizers.py): GD and the KL direction."""

import math

import torch

from unpact_exp.methods import IGNORE_INDEX, gd_loss, kl_loss, mean_nll, sequence_logprob

LOG2 = math.log(2.0)
LOG3 = math.log(3.0)

# Position 0: p_ref = [1/2, 1/4, 1/4], p_theta = [1/8, 1/8, 3/4].
#   KL(ref || theta) = 1/2 log(4) + 1/4 log(2) + 1/4 log(1/3) = 5/4 log 2 - 1/4 log 3 = 0.591781
#   KL(theta || ref) = 1/8 log(1/4) + 1/8 log(1/2) + 3/4 log 3 = 3/4 log 3 - 3/8 log 2 = 0.564029
KL_FWD_0 = 1.25 * LOG2 - 0.25 * LOG3
KL_REV_0 = 0.75 * LOG3 - 0.375 * LOG2
# Position 1: p_ref = [1/4, 1/2, 1/4], p_theta = [1/2, 1/4, 1/4]:
#   KL(ref || theta) = 1/4 log(1/2) + 1/2 log 2 + 0 = 1/4 log 2 = 0.173287
KL_FWD_1 = 0.25 * LOG2
# Position 2 is never used (it would predict past the end): give it very different rows.
REF_ROWS = [[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.98, 0.01, 0.01]]
POL_ROWS = [[0.125, 0.125, 0.75], [0.5, 0.25, 0.25], [0.01, 0.01, 0.98]]


def logits(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows).log().unsqueeze(0)


def test_hand_worked_constants() -> None:
    assert math.isclose(KL_FWD_0, 0.591781, abs_tol=1e-6)
    assert math.isclose(KL_REV_0, 0.564029, abs_tol=1e-6)
    assert abs(KL_FWD_0 - KL_REV_0) > 0.02  # the example separates the two directions


def test_kl_is_forward_ref_to_theta() -> None:
    """labels [-100, 0, -100]: only position 0 (predicting labels[1]) counts -> 0.591781.

    Swapping the arguments gives KL(theta || ref) = 0.564029, so a swapped implementation fails.
    """
    labels = torch.tensor([[IGNORE_INDEX, 0, IGNORE_INDEX]])
    ref, pol = logits(REF_ROWS), logits(POL_ROWS)
    torch.testing.assert_close(kl_loss(ref, pol, labels, "answer", None), torch.tensor(KL_FWD_0))
    torch.testing.assert_close(kl_loss(pol, ref, labels, "answer", None), torch.tensor(KL_REV_0))
    assert not torch.isclose(
        kl_loss(ref, pol, labels, "answer", None), torch.tensor(KL_REV_0), atol=1e-3
    )


def test_kl_averages_over_target_positions() -> None:
    """labels [-100, 0, 1]: positions 0 and 1 count -> (0.591781 + 0.173287) / 2 = 0.382534.
    labels [-100, -100, 1]: only position 1 counts -> 0.173287.
    labels [-100, -100, -100]: nothing counts -> 0."""
    ref, pol = logits(REF_ROWS), logits(POL_ROWS)
    both = torch.tensor([[IGNORE_INDEX, 0, 1]])
    only1 = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 1]])
    none = torch.full((1, 3), IGNORE_INDEX)
    torch.testing.assert_close(
        kl_loss(ref, pol, both, "answer", None), torch.tensor((KL_FWD_0 + KL_FWD_1) / 2)
    )
    torch.testing.assert_close(kl_loss(ref, pol, only1, "answer", None), torch.tensor(KL_FWD_1))
    assert kl_loss(ref, pol, none, "answer", None).item() == 0.0


def test_kl_zero_when_equal_and_nonnegative() -> None:
    gen = torch.Generator().manual_seed(2)
    a = torch.randn(2, 4, 9, generator=gen)
    b = torch.randn(2, 4, 9, generator=gen)
    labels = torch.randint(0, 9, (2, 4), generator=gen)
    assert abs(kl_loss(a, a.clone(), labels, "answer", None).item()) < 1e-6
    assert kl_loss(a, b, labels, "answer", None).item() > 0


def test_kl_does_not_backprop_into_ref() -> None:
    ref = logits(REF_ROWS).requires_grad_(True)
    pol = logits(POL_ROWS).requires_grad_(True)
    kl_loss(ref, pol, torch.tensor([[IGNORE_INDEX, 0, 1]]), "answer", None).backward()
    assert ref.grad is None and pol.grad is not None


def test_gd_hand_worked() -> None:
    """p_theta rows of REF_ROWS, labels [-100, 0, 2]: NLL = (log 2 + log 4) / 2 = 1.5 log 2."""
    labels = torch.tensor([[IGNORE_INDEX, 0, 2]])
    torch.testing.assert_close(gd_loss(logits(REF_ROWS), labels), torch.tensor(1.5 * LOG2))
    torch.testing.assert_close(
        gd_loss(logits(REF_ROWS), labels), mean_nll(logits(REF_ROWS), labels)
    )


def test_gd_step_raises_retain_logprob() -> None:
    param = torch.nn.Parameter(torch.zeros(1, 3, 3))
    labels = torch.tensor([[IGNORE_INDEX, 0, 1]])
    before = sequence_logprob(param, labels).item()
    opt = torch.optim.SGD([param], lr=1.0)
    gd_loss(param, labels).backward()
    opt.step()
    assert sequence_logprob(param, labels).item() > before


def test_kl_step_moves_policy_towards_ref() -> None:
    """Policy starts uniform; one step on KL(ref || theta) reduces the KL and moves the retain
    target log-prob towards the reference's (ref gives labels[1] = 0 probability 1/2 > 1/3)."""
    ref = logits(REF_ROWS)
    param = torch.nn.Parameter(torch.zeros(1, 3, 3))
    labels = torch.tensor([[IGNORE_INDEX, 0, 1]])
    before = kl_loss(ref, param, labels, "answer", None).item()
    logp_before = sequence_logprob(param, labels).item()
    opt = torch.optim.SGD([param], lr=1.0)
    kl_loss(ref, param, labels, "answer", None).backward()
    opt.step()
    assert kl_loss(ref, param, labels, "answer", None).item() < before
    assert sequence_logprob(param, labels).item() > logp_before
