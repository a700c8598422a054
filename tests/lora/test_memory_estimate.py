"""``python -m unpact_exp.memory``: every term checked against a hand computation.

The model: a Llama config.json with V = 100, H = 16, I = 32, L = 2, 2 heads (KV = 16),
untied embeddings, float32 (b = 4). Parameters:

    embed 100*16 = 1600, lm_head 1600, per layer q,k,v,o 4*16*16 = 1024, gate,up,down
    3*16*32 = 1536, two norms 32 -> 2592 per layer; final norm 16
    P = 1600 + 1600 + 2 * 2592 + 16 = 8400 (4 bytes each: 33600 bytes)

LoRA r = 4 (conf/peft_model/lora_tiny.yaml) on all 7 linears: per layer 4 * 4 * (16+16)
+ 3 * 4 * (16+32) = 512 + 576 = 1088, so P_l = 2176 (8704 bytes in float32).

npo+kl, batch 2 x 8 tokens x 2 streams = 32 tokens; activations per token:
L * (6H + 2KV + 4I) * b = 2 * 256 * 4 = 2048, logits V * (b + 8) = 1200 -> 32 * 3248 = 103936.
With checkpointing: ((L + 6) * H + 2KV + 4I) * b = (128 + 32 + 128) * 4 = 1152 -> 32 * 2352 = 75264.
"""

from __future__ import annotations

import json

import pytest

from unpact_exp.memory import KNOWN_CONFIGS, Workload, estimate, main, model_shape

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 100,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "tie_word_embeddings": False,
    "torch_dtype": "float32",
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@pytest.fixture
def shape():
    from transformers import AutoConfig

    values = dict(CONFIG)
    return model_shape(AutoConfig.for_model(values.pop("model_type"), **values), 4, TARGETS)


def work(checkpointing: bool) -> Workload:
    return Workload(2, 8, 2, 4, True, checkpointing, 2)


def test_shape_counts_by_hand(shape) -> None:
    assert shape.n_params == 8400
    assert shape.largest_layer == 2592
    assert shape.lora_params == 2176
    assert (shape.hidden, shape.intermediate, shape.kv_dim, shape.layers, shape.vocab) == (
        16,
        32,
        16,
        2,
        100,
    )


def test_every_row_by_hand(shape) -> None:
    rows = {r.strategy: r for r in estimate(shape, work(False))}
    single, ddp = rows["full, 1 GPU"], rows["full, DDP x2"]
    fsdp, lora = rows["full, FSDP x2"], rows["LoRA (1 GPU or DDP)"]
    fields = ("weights", "grads", "optimizer", "reference", "activations", "other")
    assert [getattr(single, f) for f in fields] == [33600, 33600, 67200, 33600, 103936, 0]
    assert single.total == 33600 * 5 + 103936 == 271936
    assert ddp.other == 33600 and ddp.total == 305536
    assert [getattr(fsdp, f) for f in fields] == [16800, 16800, 33600, 16800, 103936, 20736]
    assert [getattr(lora, f) for f in fields] == [42304, 8704, 17408, 0, 103936, 0]
    assert lora.total == 172352


def test_checkpointing_keeps_layer_inputs_only(shape) -> None:
    (single, *_) = estimate(shape, work(True))
    assert single.activations == 75264


def test_cli_on_a_config_json(tmp_path, capsys) -> None:
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    args = [str(tmp_path / "config.json"), "--batch-size", "2", "--seq-len", "8", "--gpus", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "0.00B parameters (float32)" in out and "npo+kl" in out
    training = out.split("\n\n")[0]  # the evaluation table follows
    lines = {line[:22].strip(): line.split() for line in training.splitlines()[2:]}
    assert "batch 2 x 8 tokens x 2 stream(s)" in out
    assert set(lines) == {"full, 1 GPU", "full, DDP x2", "full, FSDP x2", "LoRA (1 GPU or DDP)"}


def test_cli_defaults_come_from_the_config(tmp_path, capsys) -> None:
    """A folder composes with the default model (tiny): npo_tiny's batch 8, max_length 128,
    lora_tiny's r = 4, conf/trainer/fsdp.yaml's 8 devices."""
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "batch 8 x 128 tokens x 2 stream(s)" in out
    assert "LoRA r=4" in out and "FSDP x8" in out


def test_known_hub_models_need_no_download(capsys) -> None:
    assert main(["llama31_8b_instruct", "--gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert "8.03B parameters (bfloat16)" in out  # Llama-3.1-8B: 8,030,261,248
    assert "Qwen/Qwen3-14B" in KNOWN_CONFIGS


def test_unknown_model_is_refused_with_the_choices(capsys) -> None:
    assert main(["/nonexistent/model"]) == 2
    assert "no config for '/nonexistent/model'" in capsys.readouterr().err
