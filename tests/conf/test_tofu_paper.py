"""``experiment=tofu_paper`` composes to open-unlearning's TOFU recipe on its three targets."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("model", "repo"),
    [
        ("tofu_llama32_1b", "Llama-3.2-1B-Instruct"),
        ("tofu_llama32_3b", "Llama-3.2-3B-Instruct"),
        ("tofu_llama31_8b", "Llama-3.1-8B-Instruct"),
    ],
)
def test_tofu_paper_recipe(make_cfg, model: str, repo: str) -> None:
    cfg = make_cfg(f"model={model}", "data=tofu", "experiment=tofu_paper", "setting=simnpo+gd")
    assert cfg.model.hub_id == f"open-unlearning/tofu_{repo}_full"
    assert cfg.data.name == "tofu" and cfg.data.forget_qa == "forget10/train"
    assert cfg.data.retain_qa == "retain90/train" and cfg.data.holdout_qa == "holdout10/train"
    assert cfg.data.forget_perturbed == "forget10_perturbed/train"
    assert cfg.method.name == "simnpo" and cfg.regularizer.name == "gd"
    assert cfg.method.lr == 1.0e-5 and cfg.method.weight_decay == 0.01
    # open-unlearning's effective batch of 32, over the 4 GPUs the 8B model's evaluation needs
    assert cfg.trainer.strategy == "fsdp" and cfg.trainer.devices == 4
    assert cfg.method.batch_size * cfg.trainer.accumulate_grad_batches * 4 == 32
    assert cfg.trainer.gradient_checkpointing is True
    assert cfg.trainer.max_epochs == 10 and cfg.eval.rouge_stemming is True
    # each size is compared with its own retain model, never the 1B one
    retain = f"open-unlearning/tofu_{repo}_retain90"
    assert cfg.metrics.tofu.retain_model == retain and cfg.metrics.mia.reference_model == retain
    assert "<|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>" in (
        cfg.model.prompt.template
    )


def test_tofu_paper_binds_with_its_retain_model(make_cfg) -> None:
    """The whole run's settings bind (a key the framework does not read is refused there), and
    the recipe's retain model reaches TOFU's forget quality and the Reference attack."""
    from unpact_exp.stages.settings import run_settings

    cfg = make_cfg("model=tofu_llama32_1b", "data=tofu", "experiment=tofu_paper")
    final = {m.name: m for m in run_settings(cfg).metrics.final}
    retain = "open-unlearning/tofu_Llama-3.2-1B-Instruct_retain90"
    assert final["tofu"].retain_model == retain and final["mia"].reference_model == retain
    plain = {m.name: m for m in run_settings(make_cfg("data=tofu")).metrics.final}
    assert plain["tofu"].retain_model is None and plain["mia"].reference_model is None


def test_tofu_paper_on_a_model_of_another_family_names_the_key_to_set(make_cfg) -> None:
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError

    cfg = make_cfg("model=llama31_8b_instruct", "data=tofu", "experiment=tofu_paper")
    # OmegaConf wraps the resolver's UnpactConfigError; the entry points unwrap it (exit 2)
    with pytest.raises(
        InterpolationResolutionError, match=r"does not end in '_full'.*metrics\.tofu\.retain_model"
    ):
        OmegaConf.to_container(cfg.metrics, resolve=True)
    own = make_cfg(
        "model=llama31_8b_instruct",
        "data=tofu",
        "experiment=tofu_paper",
        "metrics.tofu.retain_model=/models/retain90",
        "metrics.mia.reference_model=/models/retain90",
    )
    assert own.metrics.tofu.retain_model == "/models/retain90"
