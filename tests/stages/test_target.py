"""The tiny target: built by `stage=target`, knows its world, reloads from disk unchanged."""

from __future__ import annotations

from pathlib import Path

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.target import correct_rate


def test_target_learns_its_world(tiny_target: dict) -> None:
    assert tiny_target["status"] == "completed"
    assert tiny_target["forget_correct_rate"] >= 0.95
    assert tiny_target["retain_correct_rate"] >= 0.95
    assert tiny_target["general_correct_rate"] >= 0.8


def test_target_reloads_and_answers_as_before(tiny_target: dict, make_cfg) -> None:
    cfg = make_cfg()
    folder = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")
    assert Path(tiny_target["target_dir"]) == folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    AutoTokenizer.from_pretrained(folder)  # a plain HF folder
    AutoModelForCausalLM.from_pretrained(folder)
    model, tokenizer = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    rate = correct_rate(model.eval(), tokenizer, bench.forget_qa, run_settings(cfg))
    assert rate == tiny_target["forget_correct_rate"]
