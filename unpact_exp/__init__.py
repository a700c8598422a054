"""unpact-exp: a research framework for studying LLM unlearning.

Heavy modules (torch, transformers, lightning) are imported lazily by the
submodules that need them, so ``import unpact_exp`` stays cheap.
"""

__version__ = "0.1.0"

from pathlib import Path as _Path

CONF_DIR = _Path(__file__).resolve().parent / "conf"
"""The config tree, shipped inside the package (package data): ``unpact_exp/conf``."""
