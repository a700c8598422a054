"""The ``peft`` group and ``trainer.gradient_checkpointing`` compose for every model, and
bad values are refused by name before anything is loaded."""

from __future__ import annotations

import pytest

from tests.conftest import CONF
from unpact_exp.errors import UnpactConfigError
from unpact_exp.models.lora import LoraSettings
from unpact_exp.stages.settings import lora_settings

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))


def test_default_is_full_finetuning_without_checkpointing(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.peft.name == "none"
    assert lora_settings(cfg.peft) is None
    assert cfg.trainer.gradient_checkpointing is False


@pytest.mark.parametrize("model", MODELS)
def test_lora_composes_with_per_model_targets(make_cfg, model) -> None:
    cfg = make_cfg(f"model={model}", "peft=lora")
    settings = lora_settings(cfg.peft)
    assert (CONF / "peft_model" / f"lora_{model}.yaml").is_file()
    assert "q_proj" in settings.target_modules and "down_proj" in settings.target_modules
    assert settings.save_merged is False
    assert settings.r == (4 if model == "tiny" else 8)


@pytest.mark.parametrize("trainer", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_every_trainer_has_gradient_checkpointing(make_cfg, trainer) -> None:
    cfg = make_cfg(f"trainer={trainer}", "trainer.gradient_checkpointing=true")
    assert cfg.trainer.gradient_checkpointing is True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("peft.r=0", r"peft\.r=0 is out of range; it must be >= 1"),
        ("peft.lora_alpha=-1", r"peft\.lora_alpha=-1\.0 is out of range; it must be > 0"),
        ("peft.dropout=1.0", r"peft\.dropout=1\.0 must lie in \[0, 1\)"),
        ("peft.target_modules=[]", r"peft\.target_modules is empty"),
        (
            "peft.save_merged=maybe",
            r"peft\.save_merged='maybe' is not valid; it must be true or false",
        ),
        ("peft.name=qlora", r"peft='qlora' is not one of \['none', 'lora'\]"),
    ],
)
def test_bad_lora_values_are_refused_by_name(make_cfg, override, message) -> None:
    from unpact_exp.stages.unlearn import validate

    cfg = make_cfg("peft=lora", override)
    with pytest.raises(UnpactConfigError, match=message):
        validate(cfg)


def test_gradient_checkpointing_must_be_a_bool(make_cfg) -> None:
    from unpact_exp.stages.unlearn import validate

    cfg = make_cfg("trainer.gradient_checkpointing=sometimes")
    with pytest.raises(UnpactConfigError, match="trainer.gradient_checkpointing='sometimes'"):
        validate(cfg)


def test_targets_matching_no_layer_are_refused_with_the_layer_names(make_module) -> None:
    bad = LoraSettings(
        r=2, lora_alpha=4.0, dropout=0.0, target_modules=("c_attn",), save_merged=False
    )
    with pytest.raises(UnpactConfigError, match=r"matches no layer.*'q_proj'"):
        make_module("ga", "none", bad)
