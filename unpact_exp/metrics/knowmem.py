"""MUSE's knowmem: how close the answers to the forget and retain questions are to the gold ones.

The aggregate MUSE reports (docs/science.md §4): mean ROUGE-L F1 x 100 over the question/answer
pairs. It scores the greedy answers the evaluation already generated, so it costs no model call:
``knowmem_forget`` (M1 on the forget questions), ``knowmem_retain`` (M1 on the retain
questions) and ``knowmem_forget_original`` (M0 on the forget questions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.correctness import rouge_l
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.registry import register


def knowmem_score(golds: Sequence[str], outputs: Sequence[str], *, stemming: bool) -> float:
    """Mean ROUGE-L F1 x 100 over the pairs (MUSE's knowmem aggregate); NaN when empty."""
    if len(golds) != len(outputs):
        raise ValueError(f"{len(golds)} gold answers but {len(outputs)} outputs.")
    if not golds:
        return float("nan")
    f1 = [rouge_l(g, o, stemming=stemming)[1] for g, o in zip(golds, outputs)]
    return 100.0 * sum(f1) / len(golds)


@register("knowmem")
class Knowmem:
    """knowmem forget/retain of M1 and knowmem forget of M0 (free-form data only)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column("knowmem_forget", "knowmem forget (0-100)", "score"),
        Column("knowmem_retain", "knowmem retain (0-100)", "score"),
        Column("knowmem_forget_original", "knowmem forget, M0 (0-100)", "score"),
    )
    table: ClassVar[str | None] = None
    description: ClassVar[str] = ""

    def applies(self, benchmark: Benchmark) -> bool:
        """Free-form forget or retain questions are needed."""
        return bool(benchmark.forget_qa or benchmark.retain_qa)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's knowmem on the forget questions."""
        return self._scores(answered, ctx, forget="knowmem_forget_original", retain=None)

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M1's knowmem on the forget and the retain questions."""
        return self._scores(answered, ctx, forget="knowmem_forget", retain="knowmem_retain")

    @staticmethod
    def _scores(
        answered: Answered, ctx: MetricContext, forget: str, retain: str | None
    ) -> dict[str, Any]:
        stemming = ctx.eval.rouge_stemming
        scores: dict[str, Any] = {}
        if answered.forget_gold:
            scores[forget] = knowmem_score(
                answered.forget_gold, answered.forget_answers, stemming=stemming
            )
        if retain is not None and answered.retain_gold:
            scores[retain] = knowmem_score(
                answered.retain_gold, answered.retain_answers, stemming=stemming
            )
        return scores
