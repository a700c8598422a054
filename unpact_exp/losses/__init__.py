"""Unlearning objectives as pure functions over tensors (no Lightning, no transformers).

Forget objectives: :func:`ga_loss`, :func:`npo_loss`, :func:`rmu_loss`, :func:`negate_task_vector`.
Retain regularizers: :func:`gd_loss`, :func:`kl_loss` (the caller applies ``reg.weight``).
Shared plumbing: :func:`token_logprobs`, :func:`sequence_logprob`, :func:`mean_nll`.
Every hyperparameter is a required argument: the YAML config is its only source.
"""

from unpact_exp.losses.ga import ga_loss
from unpact_exp.losses.npo import npo_loss
from unpact_exp.losses.regularizers import gd_loss, kl_loss
from unpact_exp.losses.rmu import make_control_vector, rmu_loss
from unpact_exp.losses.task_vector import negate_task_vector
from unpact_exp.losses.token_logprobs import (
    IGNORE_INDEX,
    mean_nll,
    sequence_logprob,
    token_logprobs,
)

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
