"""A TOFU run on the local snapshot fixture reports forget quality and model utility.

The tiny target is built on the fixture's QA pairs and unlearned for a few NPO+GD steps; the
run's final evaluation measures the registered ``tofu`` metric, with the original tiny target
standing in for the retain model (the fixture has none). Its ``results.json`` must hold what
:func:`unpact_exp.metrics.tofu_scores.tofu_report` computes from the saved ``unlearned/`` model,
and that report is recomputed here from per-answer losses of unpadded single-sequence forwards
and the formulas of metrics/tofu.py. The membership-inference AUCs (forget vs holdout QA) and
the memorization scores of the same run are checked to be there, M0's beside them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.data.conftest import write_tofu
from unpact_exp.config.binder import bind
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import QAItem
from unpact_exp.methods.token_logprobs import token_logprobs
from unpact_exp.metrics.tofu import forget_quality, model_utility, truth_ratio
from unpact_exp.metrics.tofu_scores import (
    TofuSettings,
    forget_truth_ratios,
    tofu_report,
)
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.training.sequences import encode_qa

SETTINGS = TofuSettings(
    max_length=128,
    batch_size=3,
    truth_ratio_mean="geometric",
    max_new_tokens=12,
    stop_strings=(),
)
METRICS = [  # the run's tofu metric with SETTINGS
    "metrics.tofu.max_length=128",
    "metrics.tofu.batch_size=3",
    "metrics.tofu.truth_ratio_mean=geometric",
    "metrics.tofu.max_new_tokens=12",
    "metrics.tofu.stop_strings=[]",
    "metrics.mia.max_length=128",
    "metrics.memorization.max_length=128",
]


def single_loss(model, tok, fmt, question: str, answer: str) -> float:
    example = encode_qa(tok, fmt, [QAItem(question, answer)], 128)[0]
    ids = torch.tensor([example.input_ids])
    with torch.no_grad():
        logp, mask = token_logprobs(model(input_ids=ids).logits, torch.tensor([example.labels]))
    return float(-logp.sum() / mask.sum())


@pytest.fixture(scope="module")
def tofu_run(tmp_path_factory):
    return tmp_path_factory.mktemp("tofu") / "TOFU"


def test_tofu_run_reports_forget_quality_and_model_utility(make_cfg, tofu_run) -> None:
    from unpact_exp.report import build_rows, collect_runs
    from unpact_exp.report.table import metric_tables

    snap = write_tofu(tofu_run)
    cfg = make_cfg(
        "data=tofu",
        f"data.path={snap.path}",
        "method=npo",
        "regularizer=gd",
        "trainer.max_steps=3",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "attacks.every_step=[]",
        "attacks.final=[]",
        "metrics.every_step=[memorization]",
        "metrics.final=[tofu,mia]",
        *METRICS,
    )
    retain = target_dir(cfg.paths.artifacts_dir, "tiny", "tofu")  # built by the run itself
    # The original model stands in for the retain model here (the fixture has no retain model).
    OmegaConf.update(cfg, "metrics.tofu.retain_model", str(retain))
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed", results.get("error")
    final = results["eval"][results["final_eval_step"]]
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    original, tok = load_pretrained(str(retain), "float32", False)
    unlearned, _ = load_pretrained(str(run / "unlearned"), "float32", False)
    reference = forget_truth_ratios(original.eval(), tok, fmt, bench, SETTINGS)
    report = tofu_report(unlearned.eval(), tok, fmt, bench, SETTINGS, reference)
    original_report = tofu_report(original, tok, fmt, bench, SETTINGS, reference)

    # The run's numbers are the saved model's report (the final evaluation measured the model
    # that was then saved), M0's the original's: against itself its forget quality is 1.
    for key, value in report.items():
        assert final[f"tofu_{key}"] == pytest.approx(value, rel=1e-5, abs=1e-9), key
        want = original_report[key]
        assert final[f"tofu_{key}_original"] == pytest.approx(want, rel=1e-5, abs=1e-9), key
    assert final["tofu_forget_quality_original"] == 1.0
    for attack in ("loss", "zlib", "min_k", "min_k_plus_plus", "gradnorm"):
        assert 0.0 <= final[f"mia_{attack}_auc"] <= 1.0
        assert 0.0 <= final[f"mia_{attack}_auc_original"] <= 1.0
    assert "mia_reference_auc" not in final  # no metrics.mia.reference_model
    start = results["eval"]["0"]  # M1 = M0 at step 0; memorization runs at every step
    assert start["exact_memorization"] == start["exact_memorization_original"]
    assert 0.0 <= final["exact_memorization"] <= 1.0
    assert "tofu_model_utility" not in start  # tofu runs at the final step only
    titles = [title for title, _, _ in metric_tables(build_rows(collect_runs([run])))]
    assert {"TOFU metrics", "Membership inference", "Memorization"} <= set(titles)

    for key in ("forget_quality", "model_utility", "forget_truth_ratio", "forget_probability"):
        assert 0.0 <= report[key] <= 1.0, (key, report[key])
    # Recompute the forget truth ratios and the KS test from single-sequence forwards.
    ours = []
    for item in bench.perturbed["forget"]:
        base = single_loss(unlearned, tok, fmt, item.question, item.base_answer)
        wrong = [single_loss(unlearned, tok, fmt, item.question, w) for w in item.perturbed_answers]
        ours.append(truth_ratio(base, wrong, "geometric"))
    assert report["forget_quality"] == pytest.approx(forget_quality(ours, reference))
    assert report["forget_truth_ratio"] == pytest.approx(
        sum(min(r, 1 / r) for r in ours) / len(ours), rel=1e-5
    )
    gold = [
        single_loss(unlearned, tok, fmt, i.question, i.answer) for i in bench.perturbed["forget"]
    ]
    assert report["forget_probability"] == pytest.approx(
        sum(math.exp(-g) for g in gold) / len(gold), rel=1e-5
    )
    parts = [
        report[f"{role}_{kind}"]
        for role in ("retain", "real_authors", "world_facts")
        for kind in ("probability", "rouge", "truth_ratio")
    ]
    assert report["model_utility"] == pytest.approx(model_utility(parts))
