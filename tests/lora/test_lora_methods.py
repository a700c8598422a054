"""Every method x regularizer it accepts, with ``peft=lora``, on the tiny target (5 steps).

Each run must: complete; save an adapter folder holding only LoRA weights; save a merged
folder that differs from the target in exactly the adapted linear weights (nothing else
moved); move the forget NLL up (the unlearning direction); and reload both ways
(adapter; merged) with the same greedy answers on the forget and retain questions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.methods.token_logprobs import mean_nll
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.models.lora import MERGED_DIR, is_adapter_folder
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.target import correct_rate
from unpact_exp.stages.unlearn import encode_split
from unpact_exp.training.sequences import PadCollator

GC = "trainer.gradient_checkpointing=true"
SETTINGS = [
    ("ga", "none", ()),
    ("ga", "gd", ()),
    ("ga", "kl", ()),
    ("npo", "none", ()),
    ("npo", "gd", ()),
    ("npo", "kl", ()),
    ("npo", "kl", (GC,)),  # checkpointing through the whole stage: adapters still train
    ("tv", "none", ()),
    ("rmu", "none", ()),
    ("simnpo", "gd", ()),
    ("idkdpo", "none", ()),
    ("undial", "none", ()),
]
ADAPTED = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def lora_run(make_cfg, method: str, reg: str, *extra: str):
    cfg = make_cfg(
        f"method={method}",
        f"regularizer={reg}",
        "peft=lora",
        "peft.save_merged=true",
        "trainer.max_steps=5",
        *extra,
    )
    if method == "tv":  # tv trains whole epochs: one epoch of the 6-question forget set
        cfg.method.finetune_epochs = 1
    main(cfg)
    return cfg, Path(cfg.paths.output_dir)


def forget_nll(cfg, folder: Path) -> float:
    """Token-mean NLL of the forget answers under the model in ``folder`` (either layout)."""
    model, tok = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    fmt = run_settings(cfg).prompt
    examples = encode_split(tok, fmt, bench, "forget", "qa", int(cfg.model.max_length))
    batch = PadCollator(tok.pad_token_id)(examples)
    with torch.no_grad():
        out = model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return float(mean_nll(out.logits, batch["labels"]))


def answers(cfg, folder: Path) -> dict[str, float]:
    model, tok = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    model.eval()
    return {
        "forget": correct_rate(model, tok, bench.forget_qa, run_settings(cfg)),
        "retain": correct_rate(model, tok, bench.retain_qa, run_settings(cfg)),
    }


def plain_state(folder: Path) -> dict[str, torch.Tensor]:
    model, _ = load_pretrained(str(folder), "float32", False)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("method", "reg", "extra"), SETTINGS)
def test_lora_setting_trains_only_adapters_and_reloads_both_ways(
    method, reg, extra, make_cfg, tiny_target
) -> None:
    cfg, run = lora_run(make_cfg, method, reg, *extra)
    results = read_results(run)
    assert results["status"] == "completed", results.get("error")
    assert results["peft"] == "lora"
    unlearned = run / "unlearned"
    assert is_adapter_folder(unlearned)
    assert not (unlearned / "config.json").exists()  # the adapter, not a full model
    saved = load_file(str(unlearned / "adapter_model.safetensors"))
    assert saved and all(".lora_A." in k or ".lora_B." in k for k in saved), sorted(saved)[:4]
    assert results["unlearned_merged_dir"] == str(unlearned / MERGED_DIR)

    target = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")
    before, merged = plain_state(target), plain_state(unlearned / MERGED_DIR)
    assert set(before) == set(merged)
    changed = {k for k in before if not torch.equal(before[k], merged[k])}
    layers = cfg.method.trainable_layers if method == "rmu" else range(2)
    expected = {
        f"model.layers.{i}.{'self_attn' if m[0] in 'qkvo' else 'mlp'}.{m}.weight"
        for i in layers
        for m in ADAPTED
    }
    assert changed == expected

    assert forget_nll(cfg, unlearned) > 1.2 * forget_nll(cfg, target)
    assert answers(cfg, unlearned) == answers(cfg, unlearned / MERGED_DIR)
    adapter_cfg = json.loads((unlearned / "adapter_config.json").read_text())
    assert Path(adapter_cfg["base_model_name_or_path"]) == target.resolve()


def test_peft_lora_with_fsdp_is_refused_by_name(make_cfg, tiny_target) -> None:
    from unpact_exp.errors import UnpactConfigError
    from unpact_exp.stages.unlearn import validate

    cfg = make_cfg("peft=lora", "trainer=fsdp2")
    with pytest.raises(UnpactConfigError, match="peft=lora with trainer.strategy=fsdp2"):
        validate(cfg)
