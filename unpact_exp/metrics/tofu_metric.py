"""TOFU's forget quality, model utility and forget-set scores as a metric.

The numbers are :func:`unpact_exp.metrics.tofu_scores.tofu_report`'s (formulas in
:mod:`unpact_exp.metrics.tofu`), stored with a ``tofu_`` prefix: the forget set's probability,
ROUGE-L recall and truth-ratio score, each utility role's three numbers, ``tofu_model_utility``
(their harmonic mean) and, with a retain model, ``tofu_forget_quality``: the KS-test p-value
between the forget-set truth ratios of the measured model and of the retain model. The retain
model (``metrics.tofu.retain_model``: open-unlearning's ``..._retain90`` for forget10) is read
once, in ``prepare``, for its truth ratios, and released.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.registry import register
from unpact_exp.metrics.tofu import truth_ratio_score
from unpact_exp.metrics.tofu_scores import (
    UTILITY_ROLES,
    TofuSettings,
    forget_truth_ratios,
    tofu_report,
)

ROLES = ("forget", *UTILITY_ROLES)


def _pair(key: str, header: str, kind: Literal["unit", "pvalue"]) -> tuple[Column, Column]:
    return (
        Column(f"tofu_{key}", f"{header} (0-1)", kind),
        Column(f"tofu_{key}_original", f"{header}, M0 (0-1)", kind),
    )


@register("tofu")
class Tofu:
    """TOFU's numbers of M1 and M0 (``tofu_*`` and ``tofu_*_original``).

    Args:
        max_length: tokens per scored sequence (prompt, answer and EOS; TOFU: 512).
        batch_size: sequences per forward pass and prompts per ``generate`` call.
        truth_ratio_mean: the perturbed answers' mean in the truth ratio, ``geometric``
            (open-unlearning, TOFU's forget quality) or ``arithmetic`` (TOFU's paper).
        max_new_tokens: greedy answer length for ROUGE-L recall (TOFU: 200).
        stop_strings: where a greedy answer is cut besides EOS (TOFU: none).
        retain_model: folder or hub id of the model trained without the forget set (same
            tokenizer and prompt format as M0); None: no forget quality.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        *_pair("forget_quality", "forget quality, KS p", "pvalue"),
        *_pair("model_utility", "model utility", "unit"),
        *_pair("forget_truth_ratio", "forget truth ratio", "unit"),
        *_pair("forget_probability", "forget probability", "unit"),
        *_pair("forget_rouge", "forget ROUGE-L recall", "unit"),
    )
    table: ClassVar[str | None] = "TOFU metrics"
    description: ClassVar[str] = (
        "TOFU (arXiv 2401.06121) as open-unlearning computes it. Forget quality = p-value of "
        "the KS test between the forget-set truth ratios of the model and of the retain model "
        "(`metrics.tofu.retain_model`; high = indistinguishable from never trained on the "
        "forget set). Model utility = harmonic mean of probability, ROUGE-L recall and "
        "truth-ratio score on retain, real authors and world facts. Forget truth ratio = mean "
        "min(R, 1/R); forget probability = mean length-normalised probability of the gold "
        "answer; forget ROUGE = mean ROUGE-L recall of the greedy answer. M0 = the original "
        "model."
    )

    def __init__(
        self,
        max_length: int,
        batch_size: int,
        truth_ratio_mean: Literal["geometric", "arithmetic"],
        max_new_tokens: int,
        stop_strings: tuple[str, ...],
        retain_model: str | None,
    ) -> None:
        from unpact_exp.config import checks

        checks.at_least("metrics.tofu.max_length", max_length, 2)
        checks.at_least("metrics.tofu.batch_size", batch_size, 1)
        checks.at_least("metrics.tofu.max_new_tokens", max_new_tokens, 1)
        self.settings = TofuSettings(
            max_length, batch_size, truth_ratio_mean, max_new_tokens, tuple(stop_strings)
        )
        self.retain_model = retain_model
        self.retain_ratios: list[float] | None = None

    def applies(self, benchmark: Benchmark) -> bool:
        """The dataset needs TOFU's perturbed sets: forget, retain, real authors, world facts."""
        return all(benchmark.perturbed.get(role) for role in ROLES)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """The retain model's forget-set truth ratios (once), then M0's numbers."""
        values: dict[str, Any] = {}
        if self.retain_model is not None:
            retain = ctx.load_beside(self.retain_model, model)
            self.retain_ratios = forget_truth_ratios(
                retain, ctx.tokenizer, ctx.prompt_format, ctx.benchmark, self.settings
            )
            del retain
            values["tofu_forget_truth_ratio_retain"] = truth_ratio_score(
                self.retain_ratios, forget=True
            )
        measured = self.measure(model, ctx, answered)
        return values | {f"{k}_original": v for k, v in measured.items()}

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """Every number of :func:`tofu_report`, prefixed ``tofu_``."""
        report = tofu_report(
            model,
            ctx.tokenizer,
            ctx.prompt_format,
            ctx.benchmark,
            self.settings,
            self.retain_ratios,
        )
        return {f"tofu_{key}": value for key, value in report.items()}
