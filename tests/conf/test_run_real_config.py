"""The run-real experiment and the M0 analysis cache knobs compose as documented."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import QUIET, compose_cfg
from unpact_exp.stages.settings import run_settings


def test_cache_knobs_default_on_under_artifacts(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.eval.cache_original is True
    assert Path(cfg.paths.cache_dir) == Path(cfg.paths.artifacts_dir) / "cache"
    cache = Path(cfg.paths.artifacts_dir) / "cache" / "m0_analysis"
    assert run_settings(cfg).cache_dir == cache
    assert run_settings(make_cfg("eval.cache_original=false")).cache_dir is None


def test_smollm2_worldfacts_is_the_scaled_sweep(tmp_path, artifacts) -> None:
    cfg = compose_cfg(["experiment=smollm2_worldfacts", *QUIET], tmp_path, artifacts)
    assert cfg.data.n_forget == 64 and cfg.data.seed == 0
    assert list(cfg.data.forget_categories) == [
        "capital",
        "element",
        "language",
        "currency",
        "geography",
    ]
    assert cfg.callbacks.evaluation.every_n_steps == 4 and cfg.trainer.max_steps == 8
    assert list(cfg.attacks.every_step) == [
        "focus_on_key",
        "probab",
        "focus_on_random",
        "focus_on_neutral",
        "reask",
        "focus_on_key_m0_self",
    ]
    assert list(cfg.attacks.final) == ["paraphrase", "icl", "focus_on_key_control", "relearn"]
    assert cfg.method.lr == 4.0e-5  # ga (ga+gd is the default setting), sized for 64 facts
    npo = compose_cfg(
        ["experiment=smollm2_worldfacts", "setting=npo+kl", *QUIET], tmp_path, artifacts
    )
    assert npo.method.name == "npo" and npo.method.lr == 4.0e-5
    # The training seed leaves the data sample (and so the M0 analysis key) unchanged.
    seeded = compose_cfg(["experiment=smollm2_worldfacts", "seed=1", *QUIET], tmp_path, artifacts)
    assert seeded.seed == 1 and seeded.data.seed == 0
    weighted = compose_cfg(["experiment=smollm2_worldfacts_weighted", *QUIET], tmp_path, artifacts)
    assert weighted.data == cfg.data and weighted.eval == cfg.eval
