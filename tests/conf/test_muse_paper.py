"""``experiment=muse_news_paper`` / ``muse_books_paper`` compose to MUSE's published recipe."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("corpus", ["news", "books"])
def test_muse_paper_recipe(make_cfg, corpus: str) -> None:
    # model= / data= tell make_cfg not to shrink the synthetic world (the experiment sets them).
    base = (f"model=muse_{corpus}_target", f"data={corpus}", f"experiment=muse_{corpus}_paper")
    cfg = make_cfg(*base, "setting=npo+kl")
    assert cfg.model.name == f"muse_{corpus}_target" and cfg.data.name == corpus
    assert cfg.data.max_length == 2048 and cfg.data.train_on == "text"
    assert cfg.method.name == "npo" and cfg.method.lr == 1.0e-5
    effective = cfg.method.batch_size * cfg.trainer.devices * cfg.trainer.accumulate_grad_batches
    assert effective == 32
    assert cfg.trainer.max_steps == -1 and cfg.trainer.max_epochs == 10
    tv = make_cfg(*base, "setting=tv")
    assert tv.method.finetune_epochs == 10 and tv.method.scale == 5.0 and tv.method.lr == 1.0e-5


@pytest.mark.parametrize("corpus", ["news", "books"])
def test_muse_paper_recipe_fits_with_checkpointing(make_cfg, corpus: str) -> None:
    """FSDP x8 in bf16 as MUSE trained (bf16 weights and AdamW: MUSE's Trainer ran bf16=True on
    a bf16-loaded model), gradient checkpointing on: see python -m unpact_exp.memory --paper."""
    base = (f"model=muse_{corpus}_target", f"data={corpus}", f"experiment=muse_{corpus}_paper")
    cfg = make_cfg(*base, "setting=npo+kl")
    assert cfg.trainer.strategy == "fsdp" and cfg.trainer.accelerator == "gpu"
    assert cfg.trainer.precision == "bf16-mixed" and cfg.model.dtype == "bfloat16"
    assert cfg.trainer.gradient_checkpointing is True


def test_wmdp_paper_runs_on_a_gpu(make_cfg) -> None:
    cfg = make_cfg("data=wmdp_bio", "experiment=wmdp_paper")
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.devices == 1
