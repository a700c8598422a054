"""A MUSE target without its tokenizer: every error names ``model.tokenizer_path``.

The MUSE target repos are evaluated with Llama-2-7b-hf's tokenizer, which the MUSE configs
name in ``model.tokenizer_path`` (a gated hub id). Offline, or with the key unset on a
weights-only folder, the fix is to point that key at a local copy, not ``model.path``.
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.conftest import compose_cfg
from unpact_exp import CONF_DIR
from unpact_exp.errors import ModelLoadError
from unpact_exp.models.loading import load_model_tokenizer
from unpact_exp.run import main


def target_cfg(folder, tokenizer_path):
    cfg = OmegaConf.load(CONF_DIR / "model" / "muse_news_target.yaml")
    cfg.path, cfg.tokenizer_path = str(folder), tokenizer_path
    return cfg


def test_default_hub_tokenizer_offline_names_tokenizer_path(llama2_family, muse_news_hub, tmp_path):
    cfg = compose_cfg(
        [
            "model=muse_news_target",
            f"model.path={llama2_family.folder}",
            "data=news",
            f"data.path={muse_news_hub.path}",
            "logger=none",
            "trainer.enable_progress_bar=false",
        ],
        tmp_path / "run",
        tmp_path / "artifacts",
    )
    assert cfg.model.tokenizer_path == "meta-llama/Llama-2-7b-hf"
    with pytest.raises(ModelLoadError) as err:
        main(cfg)
    message = str(err.value)
    assert "Cannot load tokenizer 'meta-llama/Llama-2-7b-hf'" in message
    assert "`model.tokenizer_path=DIR`" in message and "model.path=" not in message


def test_null_tokenizer_path_on_a_weights_only_folder_suggests_it(llama2_family):
    with pytest.raises(ModelLoadError, match=r"has no tokenizer files") as err:
        load_model_tokenizer(target_cfg(llama2_family.folder, None), str(llama2_family.folder))
    assert "model.tokenizer_path=DIR" in str(err.value)


def test_a_missing_local_tokenizer_path_is_named(llama2_family, tmp_path):
    missing = tmp_path / "no-such-tokenizer"
    with pytest.raises(ModelLoadError, match=r"model.tokenizer_path=.*does not exist"):
        load_model_tokenizer(target_cfg(llama2_family.folder, str(missing)), "unused")


def test_a_folder_without_tokenizer_files_names_tokenizer_path(llama2_family):
    """``model.tokenizer_path`` pointed at the weights folder (no tokenizer.model there)."""
    cfg = target_cfg(llama2_family.folder, str(llama2_family.folder))
    with pytest.raises(ModelLoadError, match=r"Point model.tokenizer_path at a folder"):
        load_model_tokenizer(cfg, "unused")


def test_the_tokenizer_folder_loads_as_llama2(llama2_family):
    cfg = target_cfg(llama2_family.folder, str(llama2_family.tokenizer_folder))
    tokenizer = load_model_tokenizer(cfg, str(llama2_family.folder))
    assert type(tokenizer).__name__ == "LlamaTokenizer" and tokenizer.bos_token_id == 1
