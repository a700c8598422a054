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


def test_first_build_is_announced_and_its_progress_names_the_target(tmp_path, caplog) -> None:
    """The build a first run makes says what, where and for how long, before it starts; its
    progress lines name the target, not the user's run."""
    import logging

    from tests.conftest import SMALL_WORLD, compose_cfg
    from unpact_exp.stages.target import ensure_target

    world = [o for o in SMALL_WORLD if "max_epochs" not in o and "check_every" not in o]
    overrides = [
        *world,
        "logger=none",
        "model.build.max_epochs=2",
        "model.build.check_every_n_epochs=1",
        "trainer.progress=lines",
    ]
    cfg = compose_cfg(overrides, tmp_path / "run", tmp_path / "artifacts")
    folder = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")
    with caplog.at_level(logging.INFO):
        ensure_target(cfg, run_settings(cfg), tmp_path / "logs")
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("unpact_exp")]
    first = messages[0]
    assert first.startswith(f"building the tiny target tiny-synthetic (one-time: saved to {folder}")
    assert "up to 2 epochs over" in first and "a minute or two on a CPU" in first
    checks = [m for m in messages if m.startswith("target build tiny-synthetic: epoch ")]
    assert [m.split(",")[0] for m in checks] == [
        "target build tiny-synthetic: epoch 1/2",
        "target build tiny-synthetic: epoch 2/2",
    ]
    assert "correct (stops at 99%)" in checks[0] and "target/nll" in checks[0]
    assert not any(m.startswith("eval ") for m in messages)  # its checks are not evaluations
    assert messages[-1].startswith("built tiny-synthetic in ")
    assert (folder / "config.json").is_file()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ensure_target(cfg, run_settings(cfg), tmp_path / "logs")  # built: nothing to say
    assert not [r for r in caplog.records if r.name.startswith("unpact_exp")]
