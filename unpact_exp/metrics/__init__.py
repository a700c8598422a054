"""Metrics measured at every evaluation step beside the paper's own rates, one file each.

- :mod:`~unpact_exp.metrics.knowmem`: MUSE's knowmem forget/retain (ROUGE-L F1 x 100);
- :mod:`~unpact_exp.metrics.verbmem`: MUSE's VerbMem;
- :mod:`~unpact_exp.metrics.privleak`: MUSE's PrivLeak (Min-K% / Min-K%++ AUC);
- :mod:`~unpact_exp.metrics.lm_eval`: WMDP/MMLU accuracy by lm-evaluation-harness;
- :mod:`~unpact_exp.metrics.tofu_metric`: TOFU's forget quality, model utility and forget scores;
- :mod:`~unpact_exp.metrics.mia_metric`: the membership-inference attacks' forget-vs-holdout AUCs;
- :mod:`~unpact_exp.metrics.memorization_metric`: Exact Memorization and Extraction Strength.

Each registers itself with :func:`unpact_exp.metrics.registry.register`; ``metrics.every_step``
and ``metrics.final`` (``conf/metrics/default.yaml``) list those a run measures. Adding a
metric: its file with an ``@register("<name>")`` class, an import line below, its settings
under ``metrics.<name>`` in the YAML if it has any, and its test (docs/architecture.md).
"""

# The import order is the registration order: the order of the report's metric columns.
# isort: off
from unpact_exp.metrics import knowmem  # noqa: F401  (each import registers one metric)
from unpact_exp.metrics import verbmem  # noqa: F401
from unpact_exp.metrics import privleak  # noqa: F401
from unpact_exp.metrics import lm_eval  # noqa: F401
from unpact_exp.metrics import tofu_metric  # noqa: F401
from unpact_exp.metrics import mia_metric  # noqa: F401
from unpact_exp.metrics import memorization_metric  # noqa: F401
# isort: on
