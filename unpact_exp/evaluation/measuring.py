"""What the evaluation hands a metric, and what a metric declares.

A metric (:mod:`unpact_exp.metrics`: MUSE's knowmem, VerbMem and PrivLeak, lm-eval's
accuracies, ...) measures the original model once (its ``*_original`` values) and then
every unlearned model. It declares the ``results.json`` keys it writes as report columns,
and the title and paragraph of its report table; the report reads those declarations.
This module is the contract; the metrics, which sit above the evaluation, implement it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.models.prompt import PromptFormat


@dataclass(frozen=True)
class MetricContext:
    """What a metric may use besides the model.

    Attributes:
        tokenizer: the tokenizer shared by M0 and M1.
        prompt_format: how a question is rendered for this model (TOFU's answer
            likelihoods, the membership scores of QA pairs).
        benchmark: the dataset.
        eval: the ``eval`` group (batch sizes, ROUGE stemming).
        dtype: the run's model dtype (``model.dtype``), for any other model a metric loads.
        trust_remote_code: ``model.trust_remote_code``, likewise.
    """

    tokenizer: Any
    prompt_format: PromptFormat
    benchmark: Benchmark
    eval: EvalConfig
    dtype: str
    trust_remote_code: bool

    def load_beside(self, folder: str, model: torch.nn.Module) -> torch.nn.Module:
        """Another model a metric compares with (a retrain, retain or reference model): loaded
        from ``folder`` with the run's dtype and trust setting, onto ``model``'s device, in eval
        mode. The caller drops it once its numbers are taken."""
        from unpact_exp.models.loading import load_model
        from unpact_exp.unpact.inference import model_device

        loaded = load_model(folder, self.dtype, self.trust_remote_code)
        return loaded.to(model_device(model)).eval()


@dataclass(frozen=True)
class Answered:
    """The free-form answers the evaluation already generated, for metrics that score them.

    Attributes:
        forget_gold: gold answers of the evaluated free-form forget questions.
        forget_answers: the measured model's greedy answers to them.
        retain_gold: gold answers of the evaluated retain questions (``retain_qa``).
        retain_answers: the measured model's answers to them (empty for M0).
    """

    forget_gold: list[str]
    forget_answers: list[str]
    retain_gold: list[str]
    retain_answers: list[str]


class Metric(Protocol):
    """A metric as the evaluation sees it (implemented in :mod:`unpact_exp.metrics`).

    Attributes:
        name: the registry name (``metrics.every_step`` lists these).
        columns: the keys it writes, as report columns (M0's with ``_original``).
        table: the title of its report table; None puts its columns in the main table only.
        description: the paragraph under that table.
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    table: ClassVar[str | None]
    description: ClassVar[str]

    def applies(self, benchmark: Benchmark) -> bool:
        """Whether the dataset has what the metric needs."""
        ...

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """Measure the original model M0 once; its values (``*_original``) join every step."""
        ...

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """Measure an unlearned model."""
        ...
