"""Exact Memorization and Extraction Strength of the forget answers, as a metric.

Each forget QA pair is rendered by the model's prompt format and encoded as the methods train
on it (:func:`unpact_exp.training.sequences.encode_qa`, no in-context examples), its EOS left
out as open-unlearning leaves it out; one teacher-forced forward pass gives the greedy
prediction at every answer position, and :mod:`unpact_exp.metrics.memorization` turns them
into EM and ES per answer. The metric is their mean over the forget set:
``exact_memorization`` (the share of answer tokens the model predicts) and
``extraction_strength`` (how much of each answer's end it reproduces from its start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.evaluation.columns import Column
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.metrics.memorization import (
    exact_memorization,
    extraction_strength,
    greedy_predictions,
)
from unpact_exp.metrics.registry import register
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.stop import check_stop
from unpact_exp.training.sequences import Example, PadCollator, encode_qa
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.scoring import padding_id


def answer_examples(
    tokenizer: Any, fmt: PromptFormat, items: Sequence[QAItem], max_length: int
) -> list[Example]:
    """The QA sequences with the answer tokens as targets and the final EOS left out."""
    out = []
    for e in encode_qa(tokenizer, fmt, items, max_length):
        if e.labels[-1] == tokenizer.eos_token_id:  # kept unless the answer itself was cut
            e = Example(e.input_ids[:-1], e.labels[:-1], e.index, e.truncated)
        out.append(e)
    return out


def memorization_scores(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    max_length: int,
    batch_size: int,
) -> tuple[list[float], list[float]]:
    """Per item, its Exact Memorization and its Extraction Strength under ``model``.

    An answer with no token left (cut away entirely) has no EM and is skipped there.
    """
    examples = answer_examples(tokenizer, fmt, items, max_length)
    collate = PadCollator(padding_id(tokenizer))
    device = model_device(model)
    em: list[float] = []
    es: list[float] = []
    with analysis_mode(model):
        for start in range(0, len(examples), batch_size):
            check_stop()
            batch = collate(examples[start : start + batch_size])
            logits = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
            ).logits
            for predictions, targets in greedy_predictions(logits, batch["labels"].to(device)):
                value = exact_memorization(predictions, targets)
                if value is not None:
                    em.append(value)
                es.append(extraction_strength(predictions, targets))
    return em, es


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@register("memorization")
class Memorization:
    """Mean Exact Memorization and Extraction Strength of the forget answers, M1 and M0.

    Args:
        max_length: tokens per sequence (prompt and answer).
        batch_size: sequences per forward pass.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column("exact_memorization", "exact memorization (0-1)", "unit"),
        Column("exact_memorization_original", "exact memorization, M0 (0-1)", "unit"),
        Column("extraction_strength", "extraction strength (0-1)", "unit"),
        Column("extraction_strength_original", "extraction strength, M0 (0-1)", "unit"),
    )
    table: ClassVar[str | None] = "Memorization"
    description: ClassVar[str] = (
        "Over the forget QA answers under teacher forcing (open-unlearning's definitions): "
        "exact memorization = share of answer tokens equal to the model's greedy prediction; "
        "extraction strength = 1 - k/n, with k where the longest exactly predicted suffix of "
        "the answer starts. M0 = the original model."
    )

    def __init__(self, max_length: int, batch_size: int) -> None:
        from unpact_exp.config import checks

        checks.at_least("metrics.memorization.max_length", max_length, 2)
        checks.at_least("metrics.memorization.batch_size", batch_size, 1)
        self.max_length, self.batch_size = max_length, batch_size

    def applies(self, benchmark: Benchmark) -> bool:
        """Free-form forget questions with gold answers are needed."""
        return bool(benchmark.forget_qa)

    def prepare(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """M0's values."""
        return {f"{k}_original": v for k, v in self.measure(model, ctx, answered).items()}

    def measure(
        self, model: torch.nn.Module, ctx: MetricContext, answered: Answered
    ) -> dict[str, Any]:
        """``exact_memorization`` and ``extraction_strength``: means over the forget answers."""
        em, es = memorization_scores(
            model,
            ctx.tokenizer,
            ctx.prompt_format,
            ctx.benchmark.forget_qa,
            self.max_length,
            self.batch_size,
        )
        return {"exact_memorization": _mean(em), "extraction_strength": _mean(es)}
