"""With LoRA, NPO/KL/RMU keep no second copy of the weights: the reference is a view.

Counted two ways: distinct storages of every live ``nn.Parameter`` of the embedding's
shape (a reference copy, wherever it hides, would add its own), and distinct storages
of everything the module reaches. Full fine-tuning with ``kl`` is the control that
shows the count would catch a copy.
"""

from __future__ import annotations

import gc

import torch
from torch import nn

from tests.lora.conftest import HIDDEN, LORA, VOCAB, batch, tiny_llama
from unpact_exp.models.lora import ReferenceView


def live_parameter_storages(shape: tuple[int, ...]) -> set[int]:
    """Storage addresses of every live ``nn.Parameter`` with ``shape`` in this process."""
    gc.collect()
    found = set()
    for obj in gc.get_objects():
        if isinstance(obj, nn.Parameter) and tuple(obj.shape) == shape:
            found.add(obj.untyped_storage().data_ptr())
    return found


def module_storage_bytes(module) -> int:
    """Bytes of the distinct storages reachable from the module (policy, reference, adapters)."""
    tensors = list(module.state_dict(keep_vars=True).values())
    for extra in (module.reference, module.adapters):
        if isinstance(extra, nn.Module):
            tensors += list(extra.state_dict(keep_vars=True).values())
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def train_step(module) -> None:
    """One NPO+KL (or given) step by hand: loss, backward, AdamW over the trainable weights."""
    module.objective.on_fit_start(module)
    forget, retain = batch(0), batch(1)
    loss, _ = module.objective.loss(module, forget, retain)
    reg = module.regularizer.loss(module, retain)
    total = loss if reg is None else loss + reg
    total.backward()
    params = [p for p in module.policy.parameters() if p.requires_grad]
    torch.optim.AdamW(params, lr=1e-2).step()


def test_lora_npo_kl_holds_one_copy_of_the_weights(make_module) -> None:
    embed = (VOCAB, HIDDEN)  # embed_tokens and lm_head (untied): 2 per model copy
    before = live_parameter_storages(embed)
    module = make_module("npo", "kl", LORA, beta=0.1)
    assert module.needs_reference
    assert isinstance(module.reference, ReferenceView)  # no nn.Module: no weights of its own
    assert len(live_parameter_storages(embed) - before) == 2
    train_step(module)
    assert len(live_parameter_storages(embed) - before) == 2  # no copy appeared during a step
    n_model = sum(p.numel() for p in tiny_llama().parameters())
    n_base = sum(p.numel() for n, p in module.policy.named_parameters() if "lora_" not in n)
    assert n_base == n_model
    lora_bytes = sum(p.nbytes for n, p in module.policy.named_parameters() if "lora_" in n)
    buffers = sum(b.nbytes for b in module.objective.buffers())  # NPO's cached log-probs
    assert module_storage_bytes(module) == 4 * n_model + lora_bytes + buffers  # float32, once


def test_full_finetuning_with_kl_holds_two_copies(make_module) -> None:
    """The control: the same counts see the reference copy of full fine-tuning."""
    embed = (VOCAB, HIDDEN)
    before = live_parameter_storages(embed)
    module = make_module("npo", "kl", None, beta=0.1)
    assert isinstance(module.reference, nn.Module)
    assert len(live_parameter_storages(embed) - before) == 4
    n_model = sum(p.numel() for p in tiny_llama().parameters())
    buffers = sum(b.nbytes for b in module.objective.buffers())
    assert module_storage_bytes(module) == 2 * 4 * n_model + buffers


def test_reference_view_is_the_original_model_after_training(make_module) -> None:
    module = make_module("npo", "kl", LORA, beta=0.1)
    for _ in range(3):
        train_step(module)
    probe = batch(5)
    inputs = {"input_ids": probe["input_ids"], "attention_mask": probe["attention_mask"]}
    module.policy.eval()
    with torch.no_grad():
        original = tiny_llama().eval()(**inputs).logits
        reference = module.reference(**inputs).logits
        policy = module.policy(**inputs).logits
    torch.testing.assert_close(reference, original, rtol=0, atol=1e-6)
    assert (policy - original).abs().max() > 1e-3  # the adapters did move the policy
    assert all(p.requires_grad for n, p in module.policy.named_parameters() if "lora_" in n)


def test_rmu_with_lora_adapts_only_its_layers_and_loads_no_copy(make_module) -> None:
    module = make_module(
        "rmu", "none", LORA, layer=1, trainable_layers=[1], steering_coeff=5.0, retain_weight=1.0
    )
    assert isinstance(module.reference, ReferenceView)
    adapted = {n.split(".lora_")[0] for n, _ in module.policy.named_parameters() if "lora_" in n}
    assert adapted == {
        "model.layers.1.self_attn.q_proj",
        "model.layers.1.self_attn.v_proj",
        "model.layers.1.mlp.down_proj",
    }
    trainable = {n for n, p in module.policy.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
