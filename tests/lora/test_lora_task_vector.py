"""Task-vector negation under LoRA, worked by hand.

One adapted 2x2 linear layer, r = 1, lora_alpha = 2 (scaling s = 2 / 1 = 2), W = I:

    A_ft = [[1, 2]],  B_ft = [[0.5], [1]]
    tau  = s * B_ft @ A_ft = 2 * [[0.5, 1], [1, 2]] = [[1, 2], [2, 4]]
    theta_0 - alpha * tau with alpha = 3:  I - 3 * tau = [[-2, -6], [-6, -11]]

Negating by ``B <- -alpha * B`` must give exactly that merged weight, and leave A and W alone.
"""

from __future__ import annotations

import torch
from torch import nn

from unpact_exp.models.lora import LoraSettings, apply_lora, negate_lora_update


class OneLinear(nn.Module):
    """One bias-free linear layer, shaped for peft's causal-LM wrapper."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.eye(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)

    def prepare_inputs_for_generation(self, *args, **kwargs):  # read by peft, never called
        return kwargs


def test_negating_b_is_theta0_minus_alpha_tau() -> None:
    settings = LoraSettings(
        r=1, lora_alpha=2.0, dropout=0.0, target_modules=("proj",), save_merged=False
    )
    peft_model = apply_lora(OneLinear(), settings, None)
    layer = peft_model.get_base_model().proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(torch.tensor([[1.0, 2.0]]))
        layer.lora_B["default"].weight.copy_(torch.tensor([[0.5], [1.0]]))
    assert negate_lora_update(peft_model, 3.0) == 1
    torch.testing.assert_close(layer.lora_B["default"].weight, torch.tensor([[-1.5], [-3.0]]))
    torch.testing.assert_close(layer.lora_A["default"].weight, torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(layer.base_layer.weight, torch.eye(2))
    expected = torch.tensor([[-2.0, -6.0], [-6.0, -11.0]])
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # rows e1, e2: output rows are W^T's rows
    torch.testing.assert_close(peft_model.get_base_model()(x), x @ expected.T)
    merged = peft_model.merge_and_unload()
    torch.testing.assert_close(merged.proj.weight, expected)
