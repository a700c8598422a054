"""The placebo arm (methods/placebo.py): hand-worked loss, objective contract, a tiny-model run."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unpact_exp.config.binder import bind
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import IGNORE_INDEX, mean_nll, registry
from unpact_exp.methods.placebo import Placebo, placebo_loss
from unpact_exp.methods.regularizers import check_combination
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.training.sequences import PadCollator, encode_qa


def test_placebo_loss_hand_worked() -> None:
    """Labels [-100, 1, 0], vocabulary 2: logits [0, ln 3] give p(1) = 3/4 and [0, 0] give
    p(0) = 1/2, so NLL = (ln 4/3 + ln 2) / 2 = (0.287682 + 0.693147) / 2 = 0.490415."""
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0], [5.0, -5.0]]])
    labels = torch.tensor([[IGNORE_INDEX, 1, 0]])
    loss = placebo_loss(logits, labels)
    assert loss.item() == pytest.approx(0.490415, abs=1e-6)
    assert loss.item() == pytest.approx((math.log(4 / 3) + math.log(2)) / 2)


class _Ctx(SimpleNamespace):
    @staticmethod
    def forward_batch(model, batch):
        return SimpleNamespace(logits=model(batch["input_ids"]))


def test_the_forget_batch_is_never_read() -> None:
    table = torch.nn.Embedding(5, 5)
    ctx = _Ctx(policy=lambda ids: table(ids), reference=None, device=torch.device("cpu"))
    retain = {"input_ids": torch.tensor([[1, 2, 3]]), "labels": torch.tensor([[-100, 2, 3]])}
    forget_a = {"input_ids": torch.tensor([[4, 4]]), "labels": torch.tensor([[-100, 4]])}
    forget_b = {"input_ids": torch.tensor([[0]]), "labels": torch.tensor([[-100]])}
    objective = Placebo()
    loss_a, logs = objective.loss(ctx, forget_a, retain)
    loss_b, _ = objective.loss(ctx, forget_b, retain)
    assert torch.equal(loss_a, loss_b)
    assert torch.equal(logs["retain_nll"], loss_a.detach())
    with pytest.raises(RuntimeError, match="needs retain batches"):
        objective.loss(ctx, forget_a, None)


def test_capabilities_and_no_regularizer() -> None:
    cls = registry.get("placebo")
    assert cls is Placebo and cls.uses_retain and not cls.needs_reference
    assert cls.evaluates_during_fit and not cls.accepts_regularizer
    check_combination(cls, "none")
    with pytest.raises(UnpactConfigError, match="method=placebo carries its own retain handling"):
        check_combination(cls, "gd")


def test_setting_trains_like_ga_on_the_tiny_model(make_cfg) -> None:
    cfg = make_cfg("setting=placebo")
    ga = make_cfg("setting=ga+gd")
    assert cfg.method.name == "placebo" and cfg.regularizer.name == "none"
    assert (cfg.method.lr, cfg.method.batch_size) == (ga.method.lr, ga.method.batch_size)
    assert cfg.trainer.max_steps == ga.trainer.max_steps


def retain_nll(folder: Path, cfg) -> float:
    model, tok = load_pretrained(str(folder), "float32", False)
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    batch = PadCollator(tok.pad_token_id)(encode_qa(tok, fmt, bench.retain_qa, 128))
    with torch.no_grad():
        logits = model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return mean_nll(logits.logits, batch["labels"]).item()


def test_placebo_lowers_retain_nll_and_reports_a_forget_rate(make_cfg, tiny_target) -> None:
    cfg = make_cfg(
        "setting=placebo",
        "trainer.max_steps=8",
        "callbacks=default",
        "callbacks.evaluation.every_n_steps=0",
        "eval.heatmap_questions=0",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed" and results["setting"] == "placebo"
    assert results["steps"] == 8 and results["n_retain_examples"] > 0
    final = results["eval"]["8"]
    assert 0.0 <= final["forget_rate"] <= 1.0  # measured, not null: the known set is not empty
    assert final["forget_rate_counts"][1] > 0
    before = retain_nll(target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic"), cfg)
    after = retain_nll(run / "unlearned", cfg)
    assert after < before, (before, after)
