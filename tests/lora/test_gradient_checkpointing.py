"""``trainer.gradient_checkpointing`` recomputes layers and still trains the LoRA adapters.

The failure users report elsewhere: with (reentrant) checkpointing on a frozen base, the
adapters get no gradient and silently never change. Here, with checkpointing on:
layer 0's input norm runs twice per forward (so checkpointing really is on), the
gradients equal those without checkpointing, and after a few steps exactly the adapters
of the targeted modules have changed, and nothing else.
"""

from __future__ import annotations

import pytest
import torch

from tests.lora.conftest import LORA, TARGETS, batch, tiny_llama
from unpact_exp.methods.rmu import decoder_layers


def ga_gd_loss(module) -> torch.Tensor:
    forget, retain = batch(0), batch(1)
    loss, _ = module.objective.loss(module, forget, retain)
    return loss + module.regularizer.loss(module, retain)


def layer0_calls(module) -> int:
    """Forward calls of layer 0's input norm during one forward + backward.

    A submodule, not the layer: transformers checkpoints the layer's ``forward``,
    inside the layer's own hooks. The first one: torch's non-reentrant recompute stops
    early once it has every saved tensor, so the layer's last modules may not rerun.
    """
    calls = []
    hook = decoder_layers(module.policy)[0].input_layernorm.register_forward_hook(
        lambda *_: calls.append(1)
    )
    try:
        ga_gd_loss(module).backward()
    finally:
        hook.remove()
    return len(calls)


@pytest.mark.parametrize("lora", [LORA, None], ids=["lora", "full"])
def test_checkpointing_recomputes_each_layer(make_module, lora) -> None:
    on = make_module("ga", "gd", lora, gradient_checkpointing=True).train()
    off = make_module("ga", "gd", lora, gradient_checkpointing=False).train()
    assert layer0_calls(off) == 2  # forget + retain forwards
    assert layer0_calls(on) == 4  # each forward again in the backward pass


def test_lora_gradients_with_checkpointing_equal_those_without(make_module) -> None:
    grads = {}
    for checkpointing in (True, False):
        module = make_module("ga", "gd", LORA, gradient_checkpointing=checkpointing).train()
        ga_gd_loss(module).backward()
        grads[checkpointing] = {
            n: p.grad.clone() for n, p in module.policy.named_parameters() if p.grad is not None
        }
    assert set(grads[True]) == set(grads[False])
    assert grads[True] and all("lora_" in n for n in grads[True])
    for name, grad in grads[True].items():
        torch.testing.assert_close(grad, grads[False][name], rtol=1e-5, atol=1e-7)


def test_lora_with_checkpointing_changes_exactly_the_adapters(make_module) -> None:
    module = make_module("ga", "gd", LORA, gradient_checkpointing=True).train()
    before = {n: p.detach().clone() for n, p in module.policy.named_parameters()}
    params = [p for p in module.policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    for _ in range(3):  # B moves at step 1; A once B is non-zero
        optimizer.zero_grad()
        ga_gd_loss(module).backward()
        optimizer.step()
    changed = {n for n, p in module.policy.named_parameters() if not torch.equal(p, before[n])}
    expected = {
        f"model.layers.{i}.{'mlp' if t == 'down_proj' else 'self_attn'}.{t}.lora_{ab}.default"
        ".weight"
        for i in range(2)
        for t in TARGETS
        for ab in "AB"
    }
    assert changed == expected
    original = dict(tiny_llama().named_parameters())
    base = {n.replace(".base_layer", ""): p for n, p in module.policy.named_parameters()}
    for name, param in original.items():
        assert torch.equal(base[name], param), name  # the frozen base did not move
