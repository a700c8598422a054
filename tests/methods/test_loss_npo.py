"""Hand-worked tests of the NPO objective (npo.py), including its sign and beta validation."""

import math
import re

import pytest
import torch

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import IGNORE_INDEX, npo_loss, sequence_logprob


def test_npo_hand_worked() -> None:
    """policy = [-2, -3], ref = [-2, -1], beta = 0.5.

    policy - ref = [0, -2]; -beta * (policy - ref) = [0, 1].
    log sigmoid(0) = -log 2 = -0.693147; log sigmoid(1) = -log(1 + e^-1) = -0.313262.
    mean = -(0.693147 + 0.313262) / 2 = -0.503204.
    loss = -(2 / 0.5) * mean = 4 * 0.503204 = 2 * (log 2 + log(1 + e^-1)) = 2.012818.
    """
    loss = npo_loss(torch.tensor([-2.0, -3.0]), torch.tensor([-2.0, -1.0]), 0.5)
    expected = 2 * (math.log(2.0) + math.log(1 + math.exp(-1.0)))
    assert math.isclose(expected, 2.012818, rel_tol=1e-6)
    torch.testing.assert_close(loss, torch.tensor(expected))


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_npo_at_reference_is_two_over_beta_log2(beta: float) -> None:
    """policy == ref: -(2/beta) * log sigmoid(0) = (2/beta) log 2 (13.862944 for beta 0.1)."""
    seq = torch.tensor([-7.0, -1.5, -30.0])
    torch.testing.assert_close(
        npo_loss(seq, seq.clone(), beta), torch.tensor(2 / beta * math.log(2))
    )


def test_npo_decreases_as_policy_falls_below_ref() -> None:
    """With beta = 0.5 and policy = ref - d: loss = 4 log(1 + e^(-d/2)), decreasing to 0.

    d = 0 -> 4 log 2 = 2.772589; d = 2 -> 4 log(1 + e^-1) = 1.253047; d = -2 (policy above ref)
    -> 4 log(1 + e) = 5.253047.
    """
    ref = torch.tensor([-10.0])
    losses = [npo_loss(ref - d, ref, 0.5).item() for d in (-2.0, 0.0, 1.0, 2.0, 5.0, 20.0)]
    assert all(a > b for a, b in zip(losses, losses[1:]))
    assert all(v > 0 for v in losses)
    assert losses[-1] < 1e-3
    assert math.isclose(losses[0], 4 * math.log(1 + math.e), rel_tol=1e-6)
    assert math.isclose(losses[3], 4 * math.log(1 + math.exp(-1.0)), rel_tol=1e-6)


def test_npo_gradient_at_reference() -> None:
    """d loss / d policy_b = 2 * sigmoid(beta * (policy_b - ref_b)) / B; at policy == ref with
    B = 2 that is 2 * 1/2 / 2 = 0.5 per sequence, positive (so descent lowers policy)."""
    policy = torch.tensor([-3.0, -4.0], requires_grad=True)
    ref = torch.tensor([-3.0, -4.0], requires_grad=True)
    npo_loss(policy, ref, 0.1).backward()
    torch.testing.assert_close(policy.grad, torch.tensor([0.5, 0.5]))
    assert ref.grad is None  # reference is detached


@pytest.mark.parametrize("beta", [0, 0.0, -0.1, float("nan"), float("inf")])
def test_npo_rejects_bad_beta(beta: object) -> None:
    seq = torch.tensor([-1.0])
    with pytest.raises(
        ValueError, match=r"beta must be a finite number > 0.*got " + re.escape(repr(beta))
    ):
        npo_loss(seq, seq, beta)  # type: ignore[arg-type]


@pytest.mark.parametrize("beta", [0.0, -0.1, None, True, "0.1"])
def test_npo_config_refuses_bad_beta_by_its_key(beta: object) -> None:
    from unpact_exp.methods import registry

    node = {"name": "npo", "lr": 1e-5, "weight_decay": 0.0, "batch_size": 4}
    node |= {"forget_nll_stop": None, "forget_weight": 1.0, "keytoken_window": 32}
    node |= {"token_weighting": "uniform", "formula": "standard", "beta": beta}
    with pytest.raises(UnpactConfigError, match=r"^method\.beta=" + re.escape(repr(beta))):
        registry.build(node, {"n_forget": 1, "forget_prompts": None, "unpact": None})


def test_npo_bad_beta_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="-1"):
        npo_loss(torch.tensor([-1.0]), torch.tensor([-1.0]), -1)


def test_npo_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        npo_loss(torch.zeros(2), torch.zeros(3), 0.1)


def test_npo_step_lowers_forget_logprob() -> None:
    """One SGD step from policy == ref (cached reference log-probs) lowers the forget log-prob."""
    logits = torch.nn.Parameter(torch.zeros(2, 3, 3))
    labels = torch.tensor([[IGNORE_INDEX, 0, 1], [IGNORE_INDEX, IGNORE_INDEX, 2]])
    ref = sequence_logprob(logits, labels).detach()
    opt = torch.optim.SGD([logits], lr=1.0)
    npo_loss(sequence_logprob(logits, labels), ref, 0.1).backward()
    opt.step()
    after = sequence_logprob(logits, labels)
    assert torch.all(after < ref)
