"""unpact-exp: a research framework for studying LLM unlearning.

Heavy modules (torch, transformers, lightning) are imported lazily by the
submodules that need them, so ``import unpact_exp`` stays cheap.
"""

__version__ = "0.1.0"

from pathlib import Path as _Path

CONF_DIR = _Path(__file__).resolve().parent / "conf"
"""The config tree, shipped inside the package (package data): ``unpact_exp/conf``."""

# The configs' own resolvers (``${unpact_sibling:...}``, ``${unpact_dirname:...}``) are
# registered with OmegaConf on import, so every composition resolves them: the entry points,
# the library's ``compose``, a notebook's ``hydra.compose``.
import unpact_exp.resolvers as _resolvers  # noqa: E402, F401
