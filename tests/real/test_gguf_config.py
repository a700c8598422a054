"""The smollm2_135m model config and the GGUF resolution path, without the weights (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF
from unpact_exp.errors import ModelLoadError
from unpact_exp.models.gguf import DONE, converted_dir, find_gguf
from unpact_exp.models.loading import resolve_source

MODEL_KEYS = ("name", "hub_id", "path", "dtype", "trust_remote_code", "decoder_layer_cls")
PROMPT_KEYS = (
    "template",
    "use_chat_template",
    "system_prompt",
    "icl_template",
    "answer_prefix",
    "chat_template_kwargs",
)


def model_cfg(**gguf: str):
    cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    cfg.gguf.update(gguf)
    return cfg


def test_config_has_every_model_key() -> None:
    cfg = model_cfg()
    tiny = OmegaConf.load(CONF / "model" / "tiny.yaml")
    assert set(MODEL_KEYS) | {"max_length", "prompt"} <= set(cfg)
    assert set(tiny.prompt) == set(cfg.prompt) == set(PROMPT_KEYS)
    assert cfg.prompt.use_chat_template and cfg.hub_id is None and cfg.path is None


def test_missing_package_names_the_install_step() -> None:
    with pytest.raises(ModelLoadError, match="make install-real"):
        find_gguf("no_such_package_xyz", "model.gguf", "make install-real")


def test_missing_file_names_the_install_step(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"'absent\.gguf'.*make install-real"):
        find_gguf("unpact_exp", "absent.gguf", "make install-real")


def test_resolve_source_converts_only_once(tmp_path: Path) -> None:
    """A finished conversion (DONE marker) is used as is: the package is not even looked up."""
    out = converted_dir(tmp_path, "smollm2_135m")
    out.mkdir(parents=True)
    (out / DONE).write_text("x")
    cfg = model_cfg(package="no_such_package_xyz")
    assert resolve_source(cfg, tmp_path, "worldfacts") == str(out)


def test_resolve_source_without_package_fails_fast(tmp_path: Path) -> None:
    cfg = model_cfg(package="no_such_package_xyz")
    with pytest.raises(ModelLoadError, match="make install-real"):
        resolve_source(cfg, tmp_path, "worldfacts")
    assert not converted_dir(tmp_path, "smollm2_135m").exists()


def test_model_path_wins_over_gguf(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    cfg = model_cfg(package="no_such_package_xyz")
    cfg.path = str(tmp_path)
    assert resolve_source(cfg, tmp_path / "artifacts", "worldfacts") == str(tmp_path)
