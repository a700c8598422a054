"""``model.tokenizer_path``: null means the model's own folder; MUSE targets name Llama-2's."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from unpact_exp.errors import ModelLoadError
from unpact_exp.models.loading import load_tokenizer, tokenizer_source


@pytest.mark.parametrize(
    "model, expected",
    [
        ("tiny", None),
        ("smollm2_135m", None),
        ("llama31_8b_instruct", None),
        ("qwen3_14b", None),
        ("muse_news_target", "meta-llama/Llama-2-7b-hf"),
        ("muse_books_target", "meta-llama/Llama-2-7b-hf"),
    ],
)
def test_config_knob(make_cfg, model, expected):
    assert make_cfg(f"model={model}").model.tokenizer_path == expected


def test_null_means_the_models_own_source():
    cfg = OmegaConf.create({"tokenizer_path": None})
    assert tokenizer_source(cfg, "/runs/target") == "/runs/target"


def test_a_tokenizer_only_folder_is_loaded(llama2_folder):
    """Llama-2-7b-hf's tokenizer files without weights (no config.json) are enough."""
    cfg = OmegaConf.create({"tokenizer_path": str(llama2_folder)})
    source = tokenizer_source(cfg, "muse-bench/MUSE-News_target")
    assert source == str(llama2_folder)
    tokenizer = load_tokenizer(source, False)
    assert type(tokenizer).__name__ == "LlamaTokenizer"
    assert tokenizer("Who?")["input_ids"][0] == tokenizer.bos_token_id == 1
    assert tokenizer.padding_side == "left" and tokenizer.pad_token == tokenizer.eos_token


def test_a_folder_without_tokenizer_files_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="not a Hugging Face model folder"):
        load_tokenizer(str(tmp_path), False)
