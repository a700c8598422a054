"""A random 2-layer Llama and an :class:`UnlearnModule` around it, built in-process.

These tests look at tensors (which storages exist, which weights moved, how often a
layer ran), not at unlearning quality, so an untrained model is enough and no target
needs building.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from unpact_exp.methods import registry
from unpact_exp.methods.regularizers import build_regularizer
from unpact_exp.models.lora import LoraSettings
from unpact_exp.training.module import UnlearnModule

VOCAB, HIDDEN, LAYERS = 40, 32, 2
TARGETS = ("q_proj", "v_proj", "down_proj")
LORA = LoraSettings(r=4, lora_alpha=8.0, dropout=0.0, target_modules=TARGETS, save_merged=False)


def tiny_llama() -> nn.Module:
    """The same random model on every call (fixed seed): the 'original weights'."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=64,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=32,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config)


def batch(seed: int, size: int = 3, length: int = 7) -> dict[str, torch.Tensor]:
    """A padded training batch with labels and example indices."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (size, length), generator=gen)
    mask = torch.ones_like(ids)
    mask[0, -2:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :2] = -100  # the "prompt"
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "index": torch.arange(size),
    }


def _yaml_node(group: str, name: str) -> dict[str, Any]:
    """``conf/<group>/<name>.yaml`` as a dict."""
    from omegaconf import OmegaConf

    from tests.conftest import CONF

    node = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"))
    return node


@pytest.fixture
def make_module() -> Callable[..., UnlearnModule]:
    """``make_module(method, regularizer, lora, gradient_checkpointing, **method_args)``."""

    def make(
        method: str,
        regularizer: str,
        lora: LoraSettings | None,
        gradient_checkpointing: bool = False,
        **method_args: Any,
    ) -> UnlearnModule:
        node = {**_yaml_node("method", method), **method_args}
        runtime = {
            "n_forget": 3,
            "hidden_size": HIDDEN,
            "seed": 0,
            "forget_prompts": None,
            "unpact": None,
        }
        module = UnlearnModule(
            load_model=tiny_llama,
            objective=registry.build(node, runtime),
            regularizer=build_regularizer(
                {**_yaml_node("regularizer", regularizer), "weight": 1.0}
            ),
            lr=1e-2,
            weight_decay=0.0,
            forget_nll_stop=None,
            forget_batches_in_order=lambda *_: [batch(0)],
            fsdp2=False,
            decoder_layer_cls=None,
            lora=lora,
            gradient_checkpointing=gradient_checkpointing,
        )
        module.configure_model()
        return module

    return make
