"""Building the Evaluator of a run: one function for the training callback and ``eval.py``."""

from __future__ import annotations

from typing import Any

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.evaluator import Evaluator
from unpact_exp.evaluation.sharding import Shard
from unpact_exp.stages.settings import RunSettings


def build_evaluator(
    model: torch.nn.Module,
    shard: Shard | None,
    *,
    tokenizer: Any,
    benchmark: Benchmark,
    settings: RunSettings,
    dtype: str,
    trust_remote_code: bool,
) -> Evaluator:
    """The Evaluator of a run, M0 analysed (``shard``: this rank's items under several ranks).

    A module-level function (used through :func:`functools.partial`) so the training callback
    stays picklable under ``ddp_spawn``.
    """
    return Evaluator(
        model,
        tokenizer,
        settings.prompt,
        benchmark,
        settings.unpact,
        settings.eval,
        attacks=settings.attacks,
        metrics=settings.metrics,
        focus_templates=settings.focus_templates,
        seed=settings.seed,
        shard=shard,
        cache_dir=settings.cache_dir,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
    )
