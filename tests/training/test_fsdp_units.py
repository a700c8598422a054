"""FSDP (v1) as configured by unpact_exp/training/fsdp.py: units, dtypes, CPU processes.

The 2-rank runs that use all of this are in tests/distributed/test_multiprocess.py.
"""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.strategies import FSDPStrategy
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaDecoderLayer

from unpact_exp.training.fsdp import CPUFSDPStrategy, mixed_precision, wrap_policy


@pytest.mark.parametrize("tied", [False, True])
def test_units_are_decoder_layers_and_whole_causal_lms(tied) -> None:
    config = LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
    )
    model = LlamaForCausalLM(config)
    policy = wrap_policy(LlamaDecoderLayer)
    units = [name for name, m in model.named_modules() if policy(m, False, 0)]
    # The causal LM itself (embeddings, final norm and head in its own unit, tied or not),
    # each decoder layer; never the inner base model, which would split a tied weight.
    assert units == ["", "model.layers.0", "model.layers.1"]
    assert policy(model.model, True, 0)  # recurse everywhere


def test_buffers_stay_float32_under_bf16_mixed() -> None:
    mp = mixed_precision("bf16-mixed")
    assert (mp.param_dtype, mp.reduce_dtype, mp.buffer_dtype) == (
        torch.bfloat16,
        torch.bfloat16,
        torch.float32,
    )
    assert mixed_precision("32-true").param_dtype == torch.float32
    with pytest.raises(ValueError, match="not one of"):
        mixed_precision("bf17")


def test_lightning_takes_the_cpu_subclass_and_refuses_its_own_on_cpu() -> None:
    with pytest.raises(ValueError, match="requires a GPU accelerator"):
        pl.Trainer(accelerator="cpu", devices=2, strategy=FSDPStrategy(), logger=False)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy=CPUFSDPStrategy(), logger=False)
    assert isinstance(trainer.strategy, CPUFSDPStrategy)


def test_trainer_fsdp_on_cpu_builds_the_cpu_strategy(make_cfg) -> None:
    from unpact_exp.training.trainer import build_strategy

    cfg = make_cfg("trainer=fsdp", "trainer.accelerator=cpu", "trainer.devices=2")
    strategy = build_strategy(cfg.trainer, cfg.model.decoder_layer_cls)
    assert type(strategy) is CPUFSDPStrategy
    assert strategy.mixed_precision.buffer_dtype == torch.float32
    gpu = make_cfg("trainer=fsdp")
    assert type(build_strategy(gpu.trainer, gpu.model.decoder_layer_cls)) is FSDPStrategy


def test_copy_shards_pairs_parameters_and_buffers_by_name() -> None:
    from torch import nn

    from unpact_exp.training.sharded_init import copy_shards

    source, target = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        source.weight.fill_(2.0)
        source.running_mean.fill_(5.0)
    copy_shards(target, source)
    assert torch.equal(target.weight, source.weight)
    assert torch.equal(target.running_mean, source.running_mean)
    with pytest.raises(RuntimeError, match="not sharded alike"):
        copy_shards(nn.BatchNorm1d(4), source)


@pytest.mark.parametrize("tied", [False, True])
def test_a_gathered_state_becomes_the_copy_without_a_second_copy(tied) -> None:
    """full_copy_on_every_rank's model: its parameters are the gathered tensors themselves
    (one full copy per rank, not the state plus a model to copy it into), the rotary
    buffers (not in a state dict) come from the source, tied weights are tied again."""
    from unpact_exp.training.distributed import model_from_state

    config = LlamaConfig(
        vocab_size=40,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        tie_word_embeddings=tied,
    )
    source = LlamaForCausalLM(config).eval()
    state = {k: v.detach().clone() for k, v in source.state_dict().items()}
    copy = model_from_state(source, state)
    for name, param in copy.named_parameters():
        assert param.data_ptr() == state[name].data_ptr(), name
    assert torch.equal(copy.model.rotary_emb.inv_freq, source.model.rotary_emb.inv_freq)
    assert (copy.lm_head.weight is copy.model.embed_tokens.weight) == tied
    ids = torch.randint(0, 40, (2, 5))
    with torch.no_grad():
        assert torch.equal(copy(input_ids=ids).logits, source(input_ids=ids).logits)
