"""MuseMetrics: the eval knobs, which keys exist when, and MUSE's relative PrivLeak."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.muse import MuseConfig, MuseMetrics
from unpact_exp.metrics.privleak import privleak_auc, relative_privleak

FORGET = ["Alice Smith was born in Paris.", "He is a baker in Rome."]
HOLDOUT = ["The capital of France is Paris.", "Bob Jones's mother is Carol White."]
VERBMEM = [QAItem("Alice Smith was born", "in Paris."), QAItem("The quick brown", "fox jumps")]


def bench(**parts) -> Benchmark:
    return Benchmark(name="handmade", **parts)


@pytest.mark.parametrize("config_name", ["train", "evaluate", "analyze"])
def test_knobs_compose_in_every_entry_point(tmp_path, artifacts, config_name) -> None:
    from tests.conftest import compose_cfg

    required = {"train": [], "evaluate": ["unlearned=/m1"], "analyze": ["question=q"]}
    base = required[config_name]
    composed = compose_cfg(base, tmp_path / "a", artifacts, config_name)
    defaults = MuseConfig.from_config(composed.eval)
    assert (defaults.verbmem_max_new_tokens, defaults.privleak_k) == (128, 0.4)
    assert (defaults.privleak_score, defaults.retrain_model) == ("min_k", None)
    knobs = [
        "eval.verbmem_max_new_tokens=16",
        "eval.privleak_k=0.2",
        "eval.privleak_score=min_k_plus_plus",
        "eval.retrain_model=/models/retrain",
    ]
    overridden = compose_cfg([*base, *knobs], tmp_path / "b", artifacts, config_name)
    muse = MuseConfig.from_config(overridden.eval)
    assert (muse.verbmem_max_new_tokens, muse.privleak_k) == (16, 0.2)
    assert (muse.privleak_score, muse.retrain_model) == ("min_k_plus_plus", "/models/retrain")


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("verbmem_max_new_tokens", 0, "eval.verbmem_max_new_tokens"),
        ("privleak_k", 0.0, r"eval.privleak_k=0.0 must be a number in \(0, 1\]"),
        ("privleak_k", 1.5, "eval.privleak_k=1.5"),
        ("privleak_score", "min_k++", r"\['min_k', 'min_k_plus_plus'\]"),
    ],
)
def test_bad_values_name_the_key(cfg, key, value, match) -> None:
    with pytest.raises(UnpactConfigError, match=match):
        MuseConfig.from_config(OmegaConf.merge(cfg.eval, {key: value}))


def test_missing_key_is_named(cfg) -> None:
    node = OmegaConf.create({k: v for k, v in cfg.eval.items() if k != "privleak_k"})
    with pytest.raises(UnpactConfigError, match=r"eval\.privleak_k is missing"):
        MuseConfig.from_config(node)


def test_no_splits_no_keys_and_no_model_call(cfg, tokenizer) -> None:
    class Untouchable(torch.nn.Module):
        def forward(self, *args, **kwargs):
            raise AssertionError("the model must not be run without MUSE splits")

    muse = MuseMetrics(Untouchable(), tokenizer, bench(), MuseConfig.from_config(cfg.eval))
    assert muse.original == {} and muse.measure(Untouchable()) == {}
    # a holdout without forget texts (or the reverse) is no PrivLeak either
    half = MuseMetrics(
        Untouchable(), tokenizer, bench(privleak_forget=FORGET), MuseConfig.from_config(cfg.eval)
    )
    assert half.measure(Untouchable()) == {}


def test_raw_auc_without_retrain_model(cfg, tokenizer, tiny_factory) -> None:
    m0, m1 = tiny_factory(0), tiny_factory(1)
    data = bench(verbmem_forget=VERBMEM, privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    muse = MuseMetrics(m0, tokenizer, data, MuseConfig.from_config(cfg.eval))
    metrics = muse.measure(m1)
    assert set(metrics) == {"verbmem_forget", "privleak_auc"}
    assert set(muse.original) == {"verbmem_forget_original", "privleak_auc_original"}
    assert metrics["privleak_auc"] == privleak_auc(m1, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32)
    assert muse.original["privleak_auc_original"] == privleak_auc(
        m0, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32
    )
    assert muse.measure(m0)["verbmem_forget"] == muse.original["verbmem_forget_original"]


def test_relative_privleak_with_a_retrain_model(cfg, tokenizer, tiny_factory) -> None:
    m0, m1, retrain = tiny_factory(0), tiny_factory(1), tiny_factory(2)
    data = bench(privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    muse = MuseMetrics(m0, tokenizer, data, MuseConfig.from_config(cfg.eval), retrain)
    retrain_auc = privleak_auc(retrain, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32)
    assert 0.0 < retrain_auc  # the relative score divides by it
    metrics = muse.measure(m1)
    assert metrics["privleak"] == relative_privleak(metrics["privleak_auc"], retrain_auc)
    assert muse.original["privleak_auc_retrain"] == retrain_auc
    assert muse.original["privleak_original"] == relative_privleak(
        muse.original["privleak_auc_original"], retrain_auc
    )
    # the retrain model measured as M1 has privleak 0, as MUSE defines it
    assert muse.measure(retrain)["privleak"] == 0.0


def test_from_config_loads_the_retrain_model_folder(cfg, tokenizer, tiny_factory, tmp_path) -> None:
    retrain = tiny_factory(2)
    retrain.save_pretrained(tmp_path / "retrain")
    root = OmegaConf.merge(
        cfg,
        {
            "eval": {"retrain_model": str(tmp_path / "retrain")},
            "model": {"dtype": "float32", "trust_remote_code": False},
        },
    )
    data = bench(privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    muse = MuseMetrics.from_config(tiny_factory(0), tokenizer, data, root)
    expected = privleak_auc(retrain, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32)
    assert muse.original["privleak_auc_retrain"] == pytest.approx(expected, abs=1e-12)
    assert "privleak" in muse.measure(tiny_factory(1))


def test_worldfacts_experiment_cuts_verbmem_to_its_short_references(tmp_path, artifacts) -> None:
    from tests.conftest import compose_cfg

    composed = compose_cfg(["experiment=smollm2_worldfacts"], tmp_path, artifacts)
    assert MuseConfig.from_config(composed.eval).verbmem_max_new_tokens == 8
