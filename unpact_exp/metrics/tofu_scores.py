"""TOFU's numbers for a model: the per-answer losses and generations the formulas of
:mod:`unpact_exp.metrics.tofu` take, and the report that combines them.

Every answer is scored as the unlearning methods train on it: rendered by the model's prompt
format after its question, followed by EOS (:func:`unpact_exp.training.sequences.encode_qa`),
and its loss is the token-mean NLL of those answer tokens, EOS included, as TOFU's
``get_batch_loss`` and open-unlearning's ``evaluate_probability`` count them. ROUGE-L recall
(stemmed, as TOFU) is taken on the greedy answer
(:func:`unpact_exp.unpact.generation.greedy_answers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.data.schema import Benchmark, PerturbedQA, QAItem
from unpact_exp.evaluation.correctness import rouge_l
from unpact_exp.methods.token_logprobs import token_logprobs
from unpact_exp.metrics.tofu import (
    forget_quality,
    model_utility,
    probability_score,
    probability_with_options,
    truth_ratio,
    truth_ratio_score,
)
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.training.sequences import PadCollator, encode_qa
from unpact_exp.unpact.generation import greedy_answers
from unpact_exp.unpact.inference import analysis_mode, model_device
from unpact_exp.unpact.scoring import padding_id

UTILITY_ROLES = ("retain", "real_authors", "world_facts")


@dataclass(frozen=True)
class TofuSettings:
    """How answers are scored and generated.

    Attributes:
        max_length: tokens per scored sequence (prompt + answer + EOS).
        batch_size: sequences per forward pass or generation call.
        truth_ratio_mean: ``geometric`` or ``arithmetic`` (see :mod:`unpact_exp.metrics.tofu`).
        max_new_tokens: greedy answer length for ROUGE.
        stop_strings: where a greedy answer is cut.
    """

    max_length: int
    batch_size: int
    truth_ratio_mean: str
    max_new_tokens: int
    stop_strings: tuple[str, ...]


def answer_losses(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    settings: TofuSettings,
) -> list[float]:
    """Token-mean NLL of each item's answer (and EOS) after its question's prompt."""
    examples = encode_qa(tokenizer, fmt, items, settings.max_length)
    collate = PadCollator(padding_id(tokenizer))
    device = model_device(model)
    losses: list[float] = []
    with analysis_mode(model):
        for start in range(0, len(examples), settings.batch_size):
            batch = collate(examples[start : start + settings.batch_size])
            logits = model(
                input_ids=batch["input_ids"].to(device),
                attention_mask=batch["attention_mask"].to(device),
            ).logits
            logp, mask = token_logprobs(logits, batch["labels"].to(device))
            per_row = -logp.sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)
            losses += per_row.cpu().tolist()
    return losses


def perturbed_losses(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[PerturbedQA],
    settings: TofuSettings,
) -> tuple[list[float], list[float], list[list[float]]]:
    """Per item, the losses of the gold answer, the base answer and each perturbed answer."""
    gold = answer_losses(
        model, tokenizer, fmt, [QAItem(i.question, i.answer) for i in items], settings
    )
    base = answer_losses(
        model, tokenizer, fmt, [QAItem(i.question, i.base_answer) for i in items], settings
    )
    flat = [QAItem(i.question, w) for i in items for w in i.perturbed_answers]
    wrong = iter(answer_losses(model, tokenizer, fmt, flat, settings))
    grouped = [[next(wrong) for _ in i.perturbed_answers] for i in items]
    return gold, base, grouped


def rouge_recalls(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    items: Sequence[QAItem],
    settings: TofuSettings,
) -> list[float]:
    """Stemmed ROUGE-L recall of each gold answer against the model's greedy answer."""
    prompts = [fmt.parts(item.question, tokenizer) for item in items]
    outputs = greedy_answers(
        model,
        tokenizer,
        prompts,
        settings.max_new_tokens,
        settings.stop_strings,
        settings.batch_size,
    )
    return [rouge_l(item.answer, out, stemming=True)[0] for item, out in zip(items, outputs)]


def forget_truth_ratios(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    settings: TofuSettings,
) -> list[float]:
    """The forget-set truth ratios: the distribution forget quality compares."""
    _, base, wrong = perturbed_losses(model, tokenizer, fmt, bench.perturbed["forget"], settings)
    return [truth_ratio(b, w, settings.truth_ratio_mean) for b, w in zip(base, wrong)]


def tofu_report(
    model: torch.nn.Module,
    tokenizer: Any,
    fmt: PromptFormat,
    bench: Benchmark,
    settings: TofuSettings,
    retain_model_ratios: Sequence[float] | None,
) -> dict[str, float]:
    """TOFU's forget and utility numbers for ``model``.

    Args:
        model: the model to score (unlearned, or the original).
        tokenizer: its tokenizer.
        fmt: its prompt format.
        bench: a TOFU :class:`Benchmark` (``perturbed`` holds ``forget`` and the utility roles).
        settings: scoring and generation settings.
        retain_model_ratios: the retain model's forget-set truth ratios
            (:func:`forget_truth_ratios`), or None: then ``forget_quality`` is not reported.

    Returns:
        ``forget_probability``, ``forget_rouge``, ``forget_truth_ratio`` (``mean min(R, 1/R)``),
        ``forget_quality`` (when the retain ratios are given), and for each utility role
        ``<role>_probability``, ``<role>_rouge``, ``<role>_truth_ratio``, then
        ``model_utility`` (their harmonic mean).
    """
    forget = bench.perturbed["forget"]
    gold, base, wrong = perturbed_losses(model, tokenizer, fmt, forget, settings)
    ratios = [truth_ratio(b, w, settings.truth_ratio_mean) for b, w in zip(base, wrong)]
    forget_items = [QAItem(i.question, i.answer) for i in forget]
    report = {
        "forget_probability": probability_score(gold),
        "forget_rouge": _mean(rouge_recalls(model, tokenizer, fmt, forget_items, settings)),
        "forget_truth_ratio": truth_ratio_score(ratios, forget=True),
    }
    if retain_model_ratios is not None:
        report["forget_quality"] = forget_quality(ratios, retain_model_ratios)
    parts = []
    for role in UTILITY_ROLES:
        items = bench.perturbed[role]
        gold, base, wrong = perturbed_losses(model, tokenizer, fmt, items, settings)
        role_ratios = [truth_ratio(b, w, settings.truth_ratio_mean) for b, w in zip(base, wrong)]
        qa = [QAItem(i.question, i.answer) for i in items]
        values = {
            f"{role}_probability": (
                probability_score(gold)
                if role == "retain"
                else probability_with_options(gold, wrong)
            ),
            f"{role}_rouge": _mean(rouge_recalls(model, tokenizer, fmt, qa, settings)),
            f"{role}_truth_ratio": truth_ratio_score(role_ratios, forget=False),
        }
        report.update(values)
        parts += list(values.values())
    report["model_utility"] = model_utility(parts)
    return report


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
