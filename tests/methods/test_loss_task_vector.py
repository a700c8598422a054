"""Hand-worked tests of task-vector negation (task_vector.py)."""

import pytest
import torch

from unpact_exp.methods import IGNORE_INDEX, mean_nll, negate_task_vector, sequence_logprob


def test_negation_hand_worked() -> None:
    """w: theta0 = [1, 2], theta_ft = [2, 1] -> tau = [1, -1];
    alpha = 5: [1 - 5, 2 + 5] = [-4, 7]; alpha = 1: [0, 3].
    The integer buffer is copied from theta0 (not negated, not taken from theta_ft)."""
    theta0 = {"w": torch.tensor([1.0, 2.0]), "pos": torch.tensor([0, 1, 2])}
    theta_ft = {"w": torch.tensor([2.0, 1.0]), "pos": torch.tensor([9, 9, 9])}
    out = negate_task_vector(theta0, theta_ft, 5.0)
    torch.testing.assert_close(out["w"], torch.tensor([-4.0, 7.0]))
    assert torch.equal(out["pos"], torch.tensor([0, 1, 2]))
    torch.testing.assert_close(
        negate_task_vector(theta0, theta_ft, 1.0)["w"], torch.tensor([0.0, 3.0])
    )
    # inputs untouched, outputs are fresh tensors
    torch.testing.assert_close(theta0["w"], torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(theta_ft["w"], torch.tensor([2.0, 1.0]))
    assert out["pos"].data_ptr() != theta0["pos"].data_ptr()


def test_bf16_dtype_kept_and_computed_in_float32() -> None:
    """theta0 = 1, theta_ft = 1 + 2^-7 (next bf16 above 1): 1 - 5 * 2^-7 = 0.9609375, exact in bf16.

    Computing ``theta_ft - theta0`` in bf16 would be exact here too; the point is the dtype."""
    theta0 = {"w": torch.tensor([1.0], dtype=torch.bfloat16)}
    theta_ft = {"w": torch.tensor([1.0078125], dtype=torch.bfloat16)}
    out = negate_task_vector(theta0, theta_ft, 5.0)
    assert out["w"].dtype == torch.bfloat16
    assert out["w"].item() == 0.9609375


def test_key_mismatch_names_missing_and_extra() -> None:
    theta0 = {"a": torch.zeros(1), "b": torch.zeros(1)}
    theta_ft = {"a": torch.zeros(1), "c": torch.zeros(1)}
    with pytest.raises(
        ValueError, match=r"missing from theta_ft: \['b'\].*extra in theta_ft: \['c'\]"
    ):
        negate_task_vector(theta0, theta_ft, 5.0)


def test_shape_mismatch_and_bad_scale() -> None:
    with pytest.raises(ValueError, match="'w'"):
        negate_task_vector({"w": torch.zeros(2)}, {"w": torch.zeros(3)}, 5.0)
    with pytest.raises(ValueError, match="scale must be finite.*nan"):
        negate_task_vector({"w": torch.zeros(2)}, {"w": torch.zeros(2)}, float("nan"))


def test_negation_lowers_forget_logprob() -> None:
    """Fine-tune a tiny logits tensor one SGD step on the forget batch (raises its log-prob), then
    negate with scale = 5: the forget log-prob ends below the original's."""
    labels = torch.tensor([[IGNORE_INDEX, 0, 1]])
    theta0 = {"logits": torch.zeros(1, 3, 3)}
    param = torch.nn.Parameter(theta0["logits"].clone())
    opt = torch.optim.SGD([param], lr=1.0)
    mean_nll(param, labels).backward()
    opt.step()
    theta_ft = {"logits": param.detach().clone()}
    base = sequence_logprob(theta0["logits"], labels).item()
    assert sequence_logprob(theta_ft["logits"], labels).item() > base
    unlearned = negate_task_vector(theta0, theta_ft, 5.0)
    assert sequence_logprob(unlearned["logits"], labels).item() < base
