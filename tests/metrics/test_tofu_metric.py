"""TOFU as a registered metric: its settings, when it applies, and its numbers equal to
:func:`unpact_exp.metrics.tofu_scores.tofu_report` of the same model."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.model_fixtures import eval_settings
from unpact_exp.data.schema import Benchmark, PerturbedQA
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics import registry
from unpact_exp.metrics.tofu import forget_quality, truth_ratio_score
from unpact_exp.metrics.tofu_scores import TofuSettings, forget_truth_ratios, tofu_report

NOTHING = Answered([], [], [], [])
FORGET = [
    PerturbedQA(
        "Where was Alice Smith born?",
        "Alice Smith was born in Paris.",
        "Alice Smith was born in Paris.",
        ("Alice Smith was born in Rome.", "Alice Smith is a baker."),
    ),
    PerturbedQA(
        "What does Dan Brown do for work?",
        "He is a baker in Rome.",
        "He is a baker.",
        ("He is a fox in Rome.", "He was born in Paris."),
    ),
    PerturbedQA(
        "Who is the mother of Bob Jones?",
        "Bob Jones's mother is Carol White.",
        "Carol White is his mother.",
        ("Bob Jones's mother is Alice Smith.",),
    ),
]
UTILITY = [
    PerturbedQA(
        "Which city is the capital of France?",
        "The capital of France is Paris.",
        "The capital of France is Paris.",
        ("The capital of France is Rome.",),
    ),
    PerturbedQA(
        "What jumps over the lazy dog?",
        "The quick brown fox.",
        "The quick brown fox.",
        ("The lazy dog.", "The river bank."),
    ),
]
PERTURBED = {"forget": FORGET, "retain": UTILITY, "real_authors": UTILITY, "world_facts": UTILITY}
SETTINGS = {"max_length": 64, "batch_size": 2, "max_new_tokens": 6}


def tofu(cfg, **changes):
    return registry.build("tofu", OmegaConf.merge(cfg, {"metrics": {"tofu": changes}}))


def context(cfg, tokenizer, prompt_format, perturbed) -> MetricContext:
    bench = Benchmark(name="handmade", perturbed=perturbed)
    return MetricContext(tokenizer, prompt_format, bench, eval_settings(cfg), "float32", False)


def test_settings_are_bound_from_the_yaml(cfg) -> None:
    metric = registry.build("tofu", cfg)
    assert metric.settings == TofuSettings(512, 16, "geometric", 200, ())
    assert metric.retain_model is None
    plan = registry.build_plan(cfg)
    assert [m.name for m in plan.final] == ["tofu", "mia"]
    changed = tofu(cfg, truth_ratio_mean="arithmetic", stop_strings=["\n\n"], retain_model="/r")
    assert changed.settings.truth_ratio_mean == "arithmetic"
    assert changed.settings.stop_strings == ("\n\n",) and changed.retain_model == "/r"


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("truth_ratio_mean", "harmonic", r"metrics\.tofu\.truth_ratio_mean='harmonic'"),
        ("batch_size", 0, r"metrics\.tofu\.batch_size=0 is out of range"),
        ("stop_strings", "\n\n", r"metrics\.tofu\.stop_strings=.* must be a list"),
    ],
)
def test_bad_values_name_the_key(cfg, key, value, match) -> None:
    with pytest.raises(UnpactConfigError, match=match):
        tofu(cfg, **{key: value})


def test_applies_only_with_every_perturbed_set(cfg) -> None:
    metric = registry.build("tofu", cfg)
    assert metric.applies(Benchmark(name="x", perturbed=PERTURBED))
    assert not metric.applies(Benchmark(name="x"))
    partial = {k: v for k, v in PERTURBED.items() if k != "world_facts"}
    assert not metric.applies(Benchmark(name="x", perturbed=partial))


def test_without_retain_model_no_forget_quality(cfg, tokenizer, prompt_format, tiny_factory):
    m0, m1 = tiny_factory(0), tiny_factory(1)
    ctx = context(cfg, tokenizer, prompt_format, PERTURBED)
    metric = tofu(cfg, **SETTINGS)
    original = metric.prepare(m0, ctx, NOTHING)
    values = metric.measure(m1, ctx, NOTHING)
    report = tofu_report(m1, tokenizer, prompt_format, ctx.benchmark, metric.settings, None)
    assert values == {f"tofu_{key}": value for key, value in report.items()}
    assert "tofu_forget_quality" not in values and "tofu_forget_quality_original" not in original
    m0_report = tofu_report(m0, tokenizer, prompt_format, ctx.benchmark, metric.settings, None)
    assert original == {f"tofu_{key}_original": value for key, value in m0_report.items()}
    declared = {c.key for c in type(metric).columns}
    assert declared <= set(values) | set(original) | {
        "tofu_forget_quality",
        "tofu_forget_quality_original",
    }


def test_forget_quality_against_the_retain_model(
    cfg, tokenizer, prompt_format, tiny_factory, tmp_path
) -> None:
    """The retain model's forget-set truth ratios are read once; the KS p-value of a model
    against them is forget_quality(ratios, retain ratios), and 1 for the retain model itself."""
    m0, m1, retain = tiny_factory(0), tiny_factory(1), tiny_factory(2)
    retain.save_pretrained(tmp_path / "retain")
    ctx = context(cfg, tokenizer, prompt_format, PERTURBED)
    metric = tofu(cfg, **SETTINGS, retain_model=str(tmp_path / "retain"))
    original = metric.prepare(m0, ctx, NOTHING)
    theirs = forget_truth_ratios(retain, tokenizer, prompt_format, ctx.benchmark, metric.settings)
    assert metric.retain_ratios == pytest.approx(theirs, rel=1e-6)
    assert original["tofu_forget_truth_ratio_retain"] == pytest.approx(
        truth_ratio_score(theirs, forget=True), rel=1e-6
    )
    for model, values in ((m0, original), (m1, metric.measure(m1, ctx, NOTHING))):
        suffix = "_original" if model is m0 else ""
        ours = forget_truth_ratios(model, tokenizer, prompt_format, ctx.benchmark, metric.settings)
        assert values[f"tofu_forget_quality{suffix}"] == forget_quality(ours, metric.retain_ratios)
    assert metric.measure(retain, ctx, NOTHING)["tofu_forget_quality"] == 1.0


def test_absent_when_the_dataset_lacks_the_sets(make_cfg, tiny_target) -> None:
    """The synthetic benchmark has no perturbed answers: the evaluator skips tofu (no ``tofu_``
    key) and runs mia, which it applies to (MUSE's privleak/ texts)."""
    from pathlib import Path

    from unpact_exp.results import read_results
    from unpact_exp.run import main

    cfg = make_cfg(
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "callbacks.evaluation.at_start=false",
        "trainer.max_steps=1",
        "attacks.every_step=[]",
        "attacks.final=[]",
        "metrics.every_step=[]",
        "metrics.final=[tofu,mia]",
    )
    main(cfg)
    results = read_results(Path(cfg.paths.output_dir))
    final = results["eval"][results["final_eval_step"]]
    assert "forget_rate" in final
    assert not [key for key in final if key.startswith("tofu_")]
    assert 0.0 <= final["mia_loss_auc"] <= 1.0 and "mia_loss_auc_original" in final
