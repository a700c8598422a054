"""unpact-exp: a research framework for studying LLM unlearning.

Heavy modules (torch, transformers, lightning) are imported lazily by the
submodules that need them, so ``import unpact_exp`` stays cheap.
"""

__version__ = "0.1.0"
