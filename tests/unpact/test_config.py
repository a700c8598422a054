"""The ``unpact`` group, bound from the real YAML: every key read, bad values refused by key."""

import pytest
from omegaconf import OmegaConf

from unpact_exp.attacks import registry as attacks
from unpact_exp.config.binder import bind
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.unpact.config import UnpactConfig


def test_real_configs_load(cfg):
    unpact = bind(UnpactConfig, cfg.unpact, "unpact")
    assert (unpact.alpha, unpact.beta, unpact.granularity) == (0.22, 0.24, "token")
    assert attacks.build("focus_on_key", cfg).keytokens_from == "original"
    assert attacks.build("probab", cfg).seed == 1234
    evaluation = bind(EvalConfig, cfg.eval, "eval")
    assert evaluation.stop_strings == ("\n\n", "\nQuestion", "Question:")


def test_missing_key_is_named(cfg):
    node = OmegaConf.create({k: v for k, v in cfg.unpact.items() if k != "alpha"})
    with pytest.raises(UnpactConfigError, match=r"unpact\.alpha is missing"):
        bind(UnpactConfig, node, "unpact")


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("granularity", "char", r"\['token', 'word'\]"),
        ("removal", "mask", r"\['delete', 'replace'\]"),
        ("target", "gold", r"\['generated', 'reference'\]"),
        ("scope", "prompt", r"\['question'\]"),
        ("normalize", "mean", r"'mean'.*\['max', 'sum'\]"),
        ("alpha", 0.0, r"\(0, 1\]"),
        ("beta", 1.2, r"\(0, 1\]"),
        ("batch_size", 0, ">= 1"),
        ("alpha", "abc", r"unpact\.alpha='abc' is not valid; it must be a number"),
        ("ignore_eps", float("inf"), "finite"),
    ],
)
def test_bad_unpact_values(cfg, key, value, match):
    node = OmegaConf.merge(cfg.unpact, {key: value})
    with pytest.raises(UnpactConfigError, match=match):
        bind(UnpactConfig, node, "unpact")


@pytest.mark.parametrize("template", ["Focus on {keys}.", "{question} {other} {keys}"])
def test_bad_focus_templates(cfg, template):
    node = OmegaConf.merge(cfg, {"focus_on_key": {"templates": [template]}})
    with pytest.raises(UnpactConfigError, match="focus_on_key.templates"):
        attacks.build("focus_on_key", node)


def test_bad_probab_and_eval(cfg):
    with pytest.raises(UnpactConfigError, match="temperature"):
        attacks.build("probab", OmegaConf.merge(cfg, {"probab": {"temperature": 0.0}}))
    with pytest.raises(UnpactConfigError, match="max_forget_questions"):
        bind(EvalConfig, OmegaConf.merge(cfg.eval, {"max_forget_questions": -1}), "eval")
