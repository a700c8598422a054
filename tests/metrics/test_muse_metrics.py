"""MUSE's VerbMem and PrivLeak as registered metrics: their knobs, which keys exist when, and
MUSE's relative PrivLeak."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from tests.model_fixtures import eval_settings
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics import registry
from unpact_exp.metrics.privleak import PrivLeak, privleak_auc, relative_privleak
from unpact_exp.metrics.verbmem import VerbMem

FORGET = ["Alice Smith was born in Paris.", "He is a baker in Rome."]
HOLDOUT = ["The capital of France is Paris.", "Bob Jones's mother is Carol White."]
VERBMEM = [QAItem("Alice Smith was born", "in Paris."), QAItem("The quick brown", "fox jumps")]
NOTHING = Answered([], [], [], [])


def bench(**parts) -> Benchmark:
    return Benchmark(name="handmade", **parts)


def context(cfg, tokenizer, data: Benchmark) -> MetricContext:
    return MetricContext(tokenizer, None, data, eval_settings(cfg), "float32", False)


@pytest.mark.parametrize("config_name", ["train", "evaluate", "analyze"])
def test_knobs_compose_in_every_entry_point(tmp_path, artifacts, config_name) -> None:
    from tests.conftest import compose_cfg

    required = {"train": [], "evaluate": ["unlearned=/m1"], "analyze": ["question=q"]}
    base = required[config_name]
    composed = compose_cfg(base, tmp_path / "a", artifacts, config_name)
    plan = registry.build_plan(composed)
    assert [m.name for m in plan.every_step] == [
        "knowmem",
        "verbmem",
        "privleak",
        "memorization",
        "lm_eval",
    ]
    assert [m.name for m in plan.final] == ["tofu", "mia"]
    verbmem, privleak = plan.every_step[1], plan.every_step[2]
    assert (verbmem.max_new_tokens, privleak.k) == (128, 0.4)
    assert (privleak.score, privleak.retrain_model) == ("min_k", None)
    knobs = [
        "metrics.verbmem.max_new_tokens=16",
        "metrics.privleak.k=0.2",
        "metrics.privleak.score=min_k_plus_plus",
        "metrics.privleak.retrain_model=/models/retrain",
    ]
    overridden = compose_cfg([*base, *knobs], tmp_path / "b", artifacts, config_name)
    verbmem, privleak = registry.build_plan(overridden).every_step[1:3]
    assert (verbmem.max_new_tokens, privleak.k) == (16, 0.2)
    assert (privleak.score, privleak.retrain_model) == ("min_k_plus_plus", "/models/retrain")


@pytest.mark.parametrize(
    ("name", "key", "value", "match"),
    [
        ("verbmem", "max_new_tokens", 0, r"metrics\.verbmem\.max_new_tokens=0 is out of range"),
        (
            "privleak",
            "k",
            0.0,
            r"metrics\.privleak\.k=0\.0 is out of range; it must lie in \(0, 1\]",
        ),
        ("privleak", "k", 1.5, r"metrics\.privleak\.k=1\.5"),
        ("privleak", "score", "min_k++", r"\['min_k', 'min_k_plus_plus'\]"),
    ],
)
def test_bad_values_name_the_key(cfg, name, key, value, match) -> None:
    with pytest.raises(UnpactConfigError, match=match):
        registry.build(name, OmegaConf.merge(cfg, {"metrics": {name: {key: value}}}))


def test_missing_key_is_named(cfg) -> None:
    node = OmegaConf.to_container(cfg)
    del node["metrics"]["privleak"]["k"]
    with pytest.raises(UnpactConfigError, match=r"metrics\.privleak\.k is missing"):
        registry.build("privleak", OmegaConf.create(node))


def test_unknown_and_repeated_metrics_are_refused(cfg) -> None:
    bad = OmegaConf.merge(cfg, {"metrics": {"every_step": ["verbmen"]}})
    with pytest.raises(UnpactConfigError, match=r"'verbmen'.*Did you mean 'verbmem'"):
        registry.build_plan(bad)
    twice = OmegaConf.merge(cfg, {"metrics": {"every_step": ["knowmem", "knowmem"]}})
    with pytest.raises(UnpactConfigError, match="more than once"):
        registry.build_plan(twice)


def test_no_splits_means_the_metrics_do_not_apply(cfg, tokenizer) -> None:
    assert not VerbMem(128).applies(bench())
    assert not PrivLeak(0.4, "min_k", None).applies(bench())
    # a holdout without forget texts (or the reverse) is no PrivLeak either
    assert not PrivLeak(0.4, "min_k", None).applies(bench(privleak_forget=FORGET))


def test_raw_auc_without_retrain_model(cfg, tokenizer, tiny_factory) -> None:
    m0, m1 = tiny_factory(0), tiny_factory(1)
    data = bench(verbmem_forget=VERBMEM, privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    ctx = context(cfg, tokenizer, data)
    verbmem, privleak = VerbMem(128), PrivLeak(0.4, "min_k", None)
    original = verbmem.prepare(m0, ctx, NOTHING) | privleak.prepare(m0, ctx, NOTHING)
    metrics = verbmem.measure(m1, ctx, NOTHING) | privleak.measure(m1, ctx, NOTHING)
    assert set(metrics) == {"verbmem_forget", "privleak_auc"}
    assert set(original) == {"verbmem_forget_original", "privleak_auc_original"}
    assert metrics["privleak_auc"] == privleak_auc(m1, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32)
    assert original["privleak_auc_original"] == privleak_auc(
        m0, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32
    )
    assert (
        verbmem.measure(m0, ctx, NOTHING)["verbmem_forget"] == original["verbmem_forget_original"]
    )


def test_relative_privleak_with_a_retrain_model(cfg, tokenizer, tiny_factory, tmp_path) -> None:
    m0, m1, retrain = tiny_factory(0), tiny_factory(1), tiny_factory(2)
    retrain.save_pretrained(tmp_path / "retrain")
    data = bench(privleak_forget=FORGET, privleak_holdout=HOLDOUT)
    ctx = context(cfg, tokenizer, data)
    privleak = PrivLeak(0.4, "min_k", str(tmp_path / "retrain"))
    original = privleak.prepare(m0, ctx, NOTHING)
    retrain_auc = privleak_auc(retrain, tokenizer, FORGET, HOLDOUT, 0.4, "min_k", 32)
    assert 0.0 < retrain_auc  # the relative score divides by it
    assert original["privleak_auc_retrain"] == pytest.approx(retrain_auc, abs=1e-12)
    metrics = privleak.measure(m1, ctx, NOTHING)
    assert metrics["privleak"] == relative_privleak(metrics["privleak_auc"], privleak.retrain_auc)
    assert original["privleak_original"] == relative_privleak(
        original["privleak_auc_original"], privleak.retrain_auc
    )
    # the retrain model measured as M1 has privleak 0, as MUSE defines it
    assert privleak.measure(retrain, ctx, NOTHING)["privleak"] == pytest.approx(0.0, abs=1e-9)


def test_worldfacts_experiment_cuts_verbmem_to_its_short_references(tmp_path, artifacts) -> None:
    from tests.conftest import compose_cfg

    composed = compose_cfg(["experiment=smollm2_worldfacts"], tmp_path, artifacts)
    assert registry.build("verbmem", composed).max_new_tokens == 8


def test_a_metric_with_no_model_needs_no_model(cfg, tokenizer) -> None:
    """knowmem scores the answers the evaluation already has: it never runs the model."""

    class Untouchable(torch.nn.Module):
        def forward(self, *args, **kwargs):
            raise AssertionError("knowmem must not run the model")

    knowmem = registry.build("knowmem", cfg)
    answered = Answered(["Paris"], ["Paris"], ["Rome"], ["London"])
    ctx = context(cfg, tokenizer, bench())
    assert knowmem.prepare(Untouchable(), ctx, answered) == {"knowmem_forget_original": 100.0}
    scores = knowmem.measure(Untouchable(), ctx, answered)
    assert scores == {"knowmem_forget": 100.0, "knowmem_retain": 0.0}
