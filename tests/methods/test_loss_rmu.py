"""Hand-worked tests of RMU (rmu.py): the control vector and the two MSE terms."""

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.methods import make_control_vector, rmu_loss


def test_control_vector_seeded_unit_norm_nonnegative() -> None:
    u = make_control_vector(64, 0, torch.float32)
    assert u.shape == (64,) and u.dtype == torch.float32
    torch.testing.assert_close(u.norm(), torch.tensor(1.0))
    assert torch.all(u >= 0)  # uniform [0, 1) before normalising, as the reference code


def test_control_vector_reproducible_and_independent_of_global_rng() -> None:
    torch.manual_seed(123)
    a = make_control_vector(32, 7, torch.float32)
    torch.manual_seed(456)
    torch.rand(10)
    b = make_control_vector(32, 7, torch.float32)
    assert torch.equal(a, b)
    g = torch.Generator().manual_seed(7)
    raw = torch.rand(32, generator=g)
    torch.testing.assert_close(a, raw / raw.norm())


def test_control_vector_differs_across_seeds_and_casts_dtype() -> None:
    assert not torch.allclose(
        make_control_vector(32, 0, torch.float32), make_control_vector(32, 1, torch.float32)
    )
    u16 = make_control_vector(32, 0, torch.bfloat16)
    assert u16.dtype == torch.bfloat16
    torch.testing.assert_close(u16.float().norm(), torch.tensor(1.0), atol=1e-2, rtol=0)
    with pytest.raises(ValueError, match="hidden_size"):
        make_control_vector(0, 0, torch.float32)


# u = [0.6, 0.8] (unit norm), steering_coeff c = 5 -> forget target c * u = [3, 4].
U = torch.tensor([0.6, 0.8])
FORGET = torch.tensor([[[1.0, 0.0], [100.0, 100.0]]])  # position 1 is padding
FORGET_MASK = torch.tensor([[1, 0]])
RETAIN = torch.tensor([[[2.0, 2.0], [7.0, 5.0]]])
FROZEN = torch.tensor([[[1.0, 1.0], [5.0, 5.0]]])


def test_rmu_hand_worked() -> None:
    """Forget: only position 0 is valid: [1, 0] - [3, 4] = [-2, -4] -> (4 + 16) / 2 = 10.
    Retain, both positions valid: diffs [1, 1], [2, 0] -> (1 + 1 + 4 + 0) / 4 = 1.5; alpha = 4 -> 6.
    Total = 16.
    """
    total, forget, retain = rmu_loss(
        FORGET, RETAIN, FROZEN, U, 5.0, 4.0, FORGET_MASK, torch.tensor([[1, 1]]), "tokens"
    )
    torch.testing.assert_close(forget, torch.tensor(10.0))
    torch.testing.assert_close(retain, torch.tensor(6.0))
    torch.testing.assert_close(total, torch.tensor(16.0))


def test_rmu_retain_mask() -> None:
    """Retain mask [1, 0]: only diffs [1, 1] -> (1 + 1) / 2 = 1; alpha 4 -> 4. Total 10 + 4."""
    total, forget, retain = rmu_loss(
        FORGET, RETAIN, FROZEN, U, 5.0, 4.0, FORGET_MASK, torch.tensor([[True, False]]), "tokens"
    )
    torch.testing.assert_close(retain, torch.tensor(4.0))
    torch.testing.assert_close(total, torch.tensor(14.0))


def test_rmu_matches_reference_mse_loss() -> None:
    """None masks = the reference code's F.mse_loss over every position; a mask = F.mse_loss over
    the selected rows (mean over positions and hidden dims)."""
    gen = torch.Generator().manual_seed(3)
    f, r, fr = (torch.randn(2, 5, 8, generator=gen) for _ in range(3))
    u = make_control_vector(8, 0, torch.float32)
    total, forget, retain = rmu_loss(f, r, fr, u, 6.5, 1200.0, None, None, "tokens")
    torch.testing.assert_close(forget, F.mse_loss(f, (6.5 * u).expand_as(f)))
    torch.testing.assert_close(retain, 1200.0 * F.mse_loss(r, fr))
    fm = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]).bool()
    rm = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
    _, forget_m, retain_m = rmu_loss(f, r, fr, u, 6.5, 1200.0, fm, rm, "tokens")
    torch.testing.assert_close(forget_m, F.mse_loss(f[fm], (6.5 * u).expand_as(f[fm])))
    torch.testing.assert_close(retain_m, 1200.0 * F.mse_loss(r[rm], fr[rm]))


def test_rmu_shape_errors() -> None:
    with pytest.raises(ValueError, match="control_vec"):
        rmu_loss(FORGET, RETAIN, FROZEN, torch.ones(3), 5.0, 1.0, None, None, "tokens")
    with pytest.raises(ValueError, match="mask"):
        rmu_loss(FORGET, RETAIN, FROZEN, U, 5.0, 1.0, torch.ones(1, 3), None, "tokens")


def test_rmu_step_moves_activations_the_intended_way() -> None:
    """One SGD step: forget activations move towards c * u, retain towards the frozen ones; no
    gradient reaches the frozen activations."""
    forget = torch.nn.Parameter(FORGET.clone())
    retain = torch.nn.Parameter(RETAIN.clone())
    frozen = FROZEN.clone().requires_grad_(True)
    mask = torch.tensor([[1, 1]])
    target = 5.0 * U
    d_forget = (forget[0, 0] - target).norm().item()
    d_retain = (retain - frozen).norm().item()
    opt = torch.optim.SGD([forget, retain], lr=0.1)
    total, _, _ = rmu_loss(forget, retain, frozen, U, 5.0, 4.0, FORGET_MASK, mask, "tokens")
    total.backward()
    assert frozen.grad is None
    assert torch.count_nonzero(forget.grad[0, 1]) == 0  # masked padding gets no gradient
    opt.step()
    assert (forget[0, 0] - target).norm().item() < d_forget
    assert (retain - frozen).norm().item() < d_retain
