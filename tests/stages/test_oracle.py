"""The retrain oracle: the tiny target trained without the forget set, and method=retrain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import registry
from unpact_exp.models.loading import load_pretrained, resolve_source, target_dir
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.target import correct_rate, ensure_oracle


def rates(cfg, folder: Path) -> dict[str, float]:
    model, tok = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    settings = run_settings(cfg)
    return {
        "forget": correct_rate(model.eval(), tok, bench.forget_qa, settings),
        "retain": correct_rate(model, tok, bench.retain_qa, settings),
    }


def test_oracle_is_built_cached_and_never_learned_the_forget_facts(make_cfg, tiny_target):
    cfg = make_cfg()
    folder = Path(ensure_oracle(cfg, run_settings(cfg)))
    artifacts = cfg.paths.artifacts_dir
    assert folder == target_dir(artifacts, "tiny", "synthetic", without_forget=True)
    assert folder != target_dir(artifacts, "tiny", "synthetic")
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert ensure_oracle(cfg, run_settings(cfg)) == str(folder)  # cached: not rebuilt
    assert (folder / "config.json").stat().st_mtime_ns == stamp
    # The switch routes the model source too (stage=unlearn with it would start from the oracle).
    oracle_cfg = make_cfg("model.build.without_forget=true")
    assert resolve_source(oracle_cfg.model, artifacts, "synthetic") == str(folder)

    measured = rates(cfg, folder)  # measured: forget 0.05 (1 of 20, a lucky guess), retain 1.0
    assert measured["retain"] >= 0.9  # it knows the retain facts, as the target does
    assert measured["forget"] <= 0.2  # and the forget facts only by chance
    assert tiny_target["forget_correct_rate"] >= 0.9  # the target knows them
    # Same architecture and tokenizer as the target: its weights fit the target tensor for tensor.
    target, target_tok = load_pretrained(
        str(target_dir(artifacts, "tiny", "synthetic")), "float32", False
    )
    oracle, oracle_tok = load_pretrained(str(folder), "float32", False)
    assert target_tok.get_vocab() == oracle_tok.get_vocab()
    shapes = {k: v.shape for k, v in target.state_dict().items()}
    assert shapes == {k: v.shape for k, v in oracle.state_dict().items()}


def test_setting_retrain_evaluates_the_oracle(make_cfg, tiny_target) -> None:
    cfg = make_cfg(
        "setting=retrain",
        "callbacks=default",
        "eval.heatmap_questions=0",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed" and results["setting"] == "retrain"
    assert results["steps"] == 0
    assert list(results["eval"]) == ["0"]  # one evaluation: the oracle, after the post-fit step
    final = results["eval"]["0"]
    # Measured: 19 of the 20 known forget facts forgotten; FocusOnKey "recovers" 1 of the 19
    # (its false-positive rate), PROBAB 0.
    assert final["forget_rate"] >= 0.8  # exact unlearning forgets the known forget facts
    # The saved unlearned model is the oracle, weight for weight.
    oracle = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic", without_forget=True)
    saved, _ = load_pretrained(str(run / "unlearned"), "float32", False)
    expected, _ = load_pretrained(str(oracle), "float32", False)
    for key, value in expected.state_dict().items():
        assert torch.equal(saved.state_dict()[key], value), key


def test_retrain_needs_a_built_model_and_no_regularizer(make_cfg) -> None:
    cls = registry.get("retrain")
    assert not cls.accepts_regularizer and not cls.evaluates_during_fit
    with pytest.raises(UnpactConfigError, match="model=tiny"):
        cls(oracle=None)
    cfg = make_cfg("model=smollm2_135m")
    with pytest.raises(UnpactConfigError, match="pretrained"):
        ensure_oracle(cfg, run_settings(cfg))
