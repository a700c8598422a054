"""Config dataclasses read every key from the real YAML and reject bad values."""

import pytest
from omegaconf import OmegaConf

from unpact_exp.errors import UnpactConfigError
from unpact_exp.unpact.config import EvalConfig, FocusOnKeyConfig, ProbabConfig, UnpactConfig


def test_real_configs_load(cfg):
    unpact = UnpactConfig.from_config(cfg.unpact)
    assert (unpact.alpha, unpact.beta, unpact.granularity) == (0.22, 0.24, "token")
    assert FocusOnKeyConfig.from_config(cfg.focus_on_key).keytokens_from == "original"
    assert ProbabConfig.from_config(cfg.probab).seed == 1234
    assert EvalConfig.from_config(cfg.eval).stop_strings == ("\n\n", "\nQuestion", "Question:")


def test_missing_key_is_named(cfg):
    node = OmegaConf.create({k: v for k, v in cfg.unpact.items() if k != "alpha"})
    with pytest.raises(UnpactConfigError, match=r"unpact\.alpha is missing"):
        UnpactConfig.from_config(node)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("granularity", "char", r"\['token', 'word'\]"),
        ("removal", "mask", r"\['delete', 'replace'\]"),
        ("target", "gold", r"\['generated', 'reference'\]"),
        ("scope", "prompt", r"\['question'\]"),
        ("alpha", 0.0, r"\(0, 1\]"),
        ("beta", 1.2, r"\(0, 1\]"),
        ("batch_size", 0, ">= 1"),
    ],
)
def test_bad_unpact_values(cfg, key, value, match):
    node = OmegaConf.merge(cfg.unpact, {key: value})
    with pytest.raises(UnpactConfigError, match=match):
        UnpactConfig.from_config(node)


@pytest.mark.parametrize("template", ["Focus on {keys}.", "{question} {other} {keys}"])
def test_bad_focus_templates(cfg, template):
    node = OmegaConf.merge(cfg.focus_on_key, {"templates": [template]})
    with pytest.raises(UnpactConfigError, match="templates"):
        FocusOnKeyConfig.from_config(node)


def test_bad_probab_and_eval(cfg):
    with pytest.raises(UnpactConfigError, match="temperature"):
        ProbabConfig.from_config(OmegaConf.merge(cfg.probab, {"temperature": 0.0}))
    with pytest.raises(UnpactConfigError, match="max_forget_questions"):
        EvalConfig.from_config(OmegaConf.merge(cfg.eval, {"max_forget_questions": -1}))
