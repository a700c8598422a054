"""A TOFU run on the local snapshot fixture reports forget quality and model utility.

The tiny target is built on the fixture's QA pairs, unlearned for a few NPO+GD steps, and scored
by :func:`unpact_exp.metrics.tofu_scores.tofu_report`; its numbers are recomputed here from
per-answer losses of unpadded single-sequence forwards and the formulas of metrics/tofu.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

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
    stop_strings=("\n\n",),
)


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
    snap = write_tofu(tofu_run)
    cfg = make_cfg(
        "data=tofu", f"data.path={snap.path}", "method=npo", "regularizer=gd", "trainer.max_steps=3"
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    assert read_results(run)["status"] == "completed"
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    original, tok = load_pretrained(
        str(target_dir(cfg.paths.artifacts_dir, "tiny", "tofu")), "float32", False
    )
    unlearned, _ = load_pretrained(str(run / "unlearned"), "float32", False)
    # The original model stands in for the retain model here (the fixture has no retain model).
    reference = forget_truth_ratios(original.eval(), tok, fmt, bench, SETTINGS)
    report = tofu_report(unlearned.eval(), tok, fmt, bench, SETTINGS, reference)

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
