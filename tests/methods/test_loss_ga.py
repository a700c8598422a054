"""Hand-worked tests of the gradient-ascent objective (ga.py)."""

import math

import torch

from unpact_exp.methods import IGNORE_INDEX, ga_loss, gd_loss, sequence_logprob

LOG2 = math.log(2.0)


def test_ga_hand_worked() -> None:
    """Position 0: p = [1/2, 1/4, 1/4], position 1: p = [1/4, 1/2, 1/4]; labels [-100, 0, 2].

    Target log-probs after the shift: log 1/2 and log 1/4, so NLL = (log 2 + 2 log 2) / 2 =
    1.5 log 2 = 1.039721 and GA = -NLL = -1.039721.
    """
    probs = torch.tensor([[[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]]])
    labels = torch.tensor([[IGNORE_INDEX, 0, 2]])
    torch.testing.assert_close(ga_loss(probs.log(), labels), torch.tensor(-1.5 * LOG2))


def test_ga_is_minus_gd() -> None:
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 7, generator=gen)
    labels = torch.randint(0, 7, (2, 5), generator=gen)
    labels[1, :2] = IGNORE_INDEX
    torch.testing.assert_close(ga_loss(logits, labels), -gd_loss(logits, labels))


def test_ga_step_lowers_forget_logprob() -> None:
    """Uniform logits (V = 3): each target log-prob is log 1/3. Minimising GA must lower them."""
    logits = torch.nn.Parameter(torch.zeros(1, 3, 3))
    labels = torch.tensor([[IGNORE_INDEX, 0, 1]])
    before = sequence_logprob(logits, labels).item()
    assert math.isclose(before, 2 * math.log(1 / 3), rel_tol=1e-6)
    opt = torch.optim.SGD([logits], lr=1.0)
    ga_loss(logits, labels).backward()
    opt.step()
    assert sequence_logprob(logits, labels).item() < before
