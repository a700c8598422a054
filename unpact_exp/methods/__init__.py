"""Unlearning methods: one file per method, each its loss function(s) and registered objective.

- :mod:`~unpact_exp.methods.ga`, :mod:`~unpact_exp.methods.npo`, :mod:`~unpact_exp.methods.tv`,
  :mod:`~unpact_exp.methods.rmu`: the forget objectives;
- :mod:`~unpact_exp.methods.placebo` (fine-tuning on retain only) and
  :mod:`~unpact_exp.methods.retrain` (the model retrained without the forget set): the
  reference arms every method is read against;
  :mod:`~unpact_exp.methods.rmu`, :mod:`~unpact_exp.methods.simnpo`,
  :mod:`~unpact_exp.methods.idkdpo`, :mod:`~unpact_exp.methods.undial`: the forget objectives;
- :mod:`~unpact_exp.methods.regularizers`: the retain terms (``none``, ``gd``, ``kl``) and the
  rule for combining them with a method;
- :mod:`~unpact_exp.methods.token_logprobs`: the log-prob plumbing every loss shares;
- :mod:`~unpact_exp.methods.base`: what an objective is; :mod:`~unpact_exp.methods.registry`:
  the one list of methods and how an objective is built from its YAML node.

The loss functions are pure (tensors in, tensors out; no Lightning). Every
hyperparameter is a required argument: the YAML config is its only source. The
equations are in ``docs/science.md``.

Adding a method: ``methods/<name>.py`` with an ``@register("<name>")`` class, an import
line below, and ``conf/method/<name>.yaml`` (README, "Adding a method").
"""

from unpact_exp.methods import (  # noqa: F401  (registers the built-in methods)
    ga,
    idkdpo,
    npo,
    placebo,
    retrain,
    rmu,
    simnpo,
    tv,
    undial,
)
from unpact_exp.methods.ga import ga_loss
from unpact_exp.methods.npo import npo_loss
from unpact_exp.methods.regularizers import gd_loss, kl_loss
from unpact_exp.methods.rmu import make_control_vector, rmu_loss
from unpact_exp.methods.token_logprobs import (
    IGNORE_INDEX,
    mean_nll,
    sequence_logprob,
    token_logprobs,
)
from unpact_exp.methods.tv import negate_task_vector

__all__ = [
    "IGNORE_INDEX",
    "ga_loss",
    "gd_loss",
    "kl_loss",
    "make_control_vector",
    "mean_nll",
    "negate_task_vector",
    "npo_loss",
    "rmu_loss",
    "sequence_logprob",
    "token_logprobs",
]
