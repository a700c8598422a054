"""Each of the paper's settings, on the tiny target, forgets and changes the right weights.

"Forgets" means the forget-set correct rate (greedy answer, ROUGE-L recall >= 0.5)
falls to at most half of the target's after a short run (10 steps; TV: its
fine-tune epochs then the negation).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unpact_exp.data.prepare import get_benchmark
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.target import correct_rate

SETTINGS = [
    ("ga", "gd"),
    ("ga", "kl"),
    ("npo", "gd"),
    ("npo", "kl"),
    ("tv", "none"),
    ("rmu", "none"),
    ("ga", "none"),
    ("npo", "none"),
]


def unlearn(make_cfg, method: str, reg: str, *extra: str, output: str = "run"):
    cfg = make_cfg(
        f"method={method}", f"regularizer={reg}", "trainer.max_steps=10", *extra, output=output
    )
    main(cfg)
    return cfg, Path(cfg.paths.output_dir)


def rates(cfg, folder: Path) -> dict[str, float]:
    model, tok = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    return {
        "forget": correct_rate(model.eval(), tok, bench.forget_qa, run_settings(cfg)),
        "retain": correct_rate(model, tok, bench.retain_qa, run_settings(cfg)),
    }


def state(folder: Path) -> dict[str, torch.Tensor]:
    model, _ = load_pretrained(str(folder), "float32", False)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("method", "reg"), SETTINGS)
def test_setting_forgets_and_changes_its_weights(method, reg, make_cfg, tiny_target) -> None:
    cfg, run = unlearn(make_cfg, method, reg)
    results = read_results(run)
    assert results["status"] == "completed"
    assert results["setting"] == (method if reg == "none" else f"{method}+{reg}")
    for key in ("method", "regularizer", "model", "data", "seed", "steps", "runtime_s"):
        assert key in results
    assert results["final_losses"]["forget"] is not None
    after = rates(cfg, run / "unlearned")
    assert after["forget"] <= 0.5 * tiny_target["forget_correct_rate"], after

    before = state(target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic"))
    now = state(run / "unlearned")
    changed = {k for k in before if not torch.equal(before[k], now[k])}
    if method == "rmu":
        expected = {f"model.layers.{i}.mlp.down_proj.weight" for i in cfg.method.trainable_layers}
        assert changed == expected  # the frozen ones did not move
    else:
        trainable = {k for k in before if "rotary" not in k}
        assert changed == trainable


def test_gd_keeps_more_retain_than_plain_ga(make_cfg, tiny_target) -> None:
    cfg, plain = unlearn(make_cfg, "ga", "none", output="plain")
    _, reg = unlearn(make_cfg, "ga", "gd", output="reg")
    assert rates(cfg, reg / "unlearned")["retain"] > rates(cfg, plain / "unlearned")["retain"]
