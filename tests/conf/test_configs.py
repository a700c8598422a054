"""Every option of every config group composes, and bad choices fail with the choices listed."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException

from tests.conftest import CONF, ROOT

GROUPS = ["model", "data", "method", "regularizer", "trainer", "logger", "callbacks"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group: str, option: str, make_cfg) -> None:
    overrides = [f"{group}={option}"]
    if group == "method" and option in ("tv", "rmu"):
        overrides.append("regularizer=none")
    cfg = make_cfg(*overrides)
    node = cfg[group]
    assert node is not None
    if group in ("model", "data", "method", "regularizer"):
        assert node.name == option


@pytest.mark.parametrize("model", options("model"))
def test_rmu_specialisation_applies_per_model(model: str, make_cfg) -> None:
    cfg = make_cfg("method=rmu", "regularizer=none", f"model={model}")
    from omegaconf import OmegaConf

    special = CONF / "method_model" / f"rmu_{model}.yaml"
    if special.exists():  # the per-model file wins over the method default
        assert cfg.method.layer == OmegaConf.load(special).layer
    else:
        assert cfg.method.layer == 7  # the method default


def test_unknown_option_lists_choices(make_cfg) -> None:
    with pytest.raises(ConfigCompositionException, match="Available options") as err:
        make_cfg("method=gaa")
    assert "npo" in str(err.value)


def test_spec_knobs_have_spec_defaults(make_cfg) -> None:
    cfg = make_cfg()
    assert cfg.unpact.alpha == 0.22 and cfg.unpact.beta == 0.24
    assert cfg.unpact.removal == "delete" and cfg.unpact.granularity == "token"
    assert cfg.unpact.scope == "question" and cfg.unpact.target == "generated"
    assert cfg.unpact.normalize == "max" and cfg.unpact.ignore_eps == 0.05
    assert cfg.eval.max_new_tokens == 32 and cfg.eval.correct_threshold == 0.5
    assert list(cfg.eval.stop_strings) == ["\n\n", "\nQuestion", "Question:"]
    assert cfg.focus_on_key.keytokens_from == "original"
    assert list(cfg.focus_on_key.templates) == ["{question} Focus on {keys} to answer."]
    assert cfg.eval.judge == "strict" and cfg.eval.labels.asks == 3
    assert cfg.eval.labels.known == "all"
    assert cfg.probab.temperature == 1.0 and cfg.probab.top_p == 1.0
    assert cfg.logger.mode == "offline" if "mode" in cfg.logger else True
    npo = make_cfg("method=npo", "model=muse_news_target")
    assert npo.method.beta == 0.1 and npo.method.lr == 1e-5
    tv = make_cfg("method=tv", "regularizer=none", "model=muse_news_target")
    assert tv.method.scale == 5.0


def test_sweep_dir_pattern() -> None:
    text = (CONF / "hydra" / "default.yaml").read_text()
    assert "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S}" in text
    assert "${hydra.job.num}_${unpact_dirname:${hydra.job.override_dirname}}" in text


def test_train_py_is_thin() -> None:
    code = (ROOT / "train.py").read_text().splitlines()
    assert len([line for line in code if line.strip()]) < 20


def test_long_job_names_are_cut_with_a_hash() -> None:
    from unpact_exp.resolvers import MAX_DIRNAME, short_dirname

    assert short_dirname("method=ga") == "method=ga"
    long = ",".join(f"data.n_{i}=1" for i in range(60))
    cut = short_dirname(long)
    assert len(cut) == MAX_DIRNAME and cut != short_dirname(long + "x")
    assert "/" not in short_dirname("model.path=/a/b")
