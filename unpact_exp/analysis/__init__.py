"""Analysis of unlearned models: UNPACT contributions, KeyTokens, recovery and rates.

Everything here is plain torch/transformers code with no Lightning import, so it is
testable with hand-made models and callable from a callback, a script or a notebook
alike. Submodules are imported on demand to keep ``import unpact_exp.analysis`` cheap:
import from the submodule that defines what you need, e.g.
``from unpact_exp.analysis.pair_analysis import PairAnalysis``.
"""
