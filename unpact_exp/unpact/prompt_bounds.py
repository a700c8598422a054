"""Bounded work per prompt: every evaluated item is checked against the model's context.

Training cuts its sequences to ``max_length``; the analysis cannot cut a question
without changing what is measured, and one question of 10,000 words made a single
evaluation run for hours (UNPACT scores n + 1 variants of n units, each as long as
the prompt: the cost grows with the square of the question's length). So every item
the analysis will see is checked once, right after the tokenizer is loaded and before
any model is, and a row that breaks a rule is refused with a :class:`DataError`
naming the split, the row and the fix:

- *length*: the prompt as rendered (template, in-context examples, question, the
  lettered choices of a multiple-choice item), plus what is generated or scored after
  it, must fit in ``model.max_length`` tokens. After a free-form prompt come
  ``eval.max_new_tokens`` generated tokens, or the gold answer's tokens when
  ``unpact.target=reference`` (whichever is longer); after a multiple-choice prompt,
  the answer letter (its ``answer_prefix`` and letter tokens).
- *UNPACT units*: the question may have at most ``unpact.max_units`` units (question
  tokens for ``unpact.granularity=token``, whitespace-separated words for ``word``),
  i.e. at most ``max_units + 1`` scored variants per prompt.

Both bounds make an evaluation's cost proportional to the number of items it has.
FocusOnKey rewrites a question with at most its own units added, so its prompts are
at most about twice as long as the checked ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unpact_exp.data.schema import Benchmark, MCItem, QAItem
from unpact_exp.errors import DataError
from unpact_exp.models.prompt import LETTERS, PromptFormat, PromptParts, encode_parts
from unpact_exp.unpact.config import UnpactConfig

QA_SPLITS = ("forget_qa", "retain_qa", "utility_qa")
MC_SPLITS = ("mc_forget", "mc_retain", "utility_mc")


@dataclass(frozen=True)
class PromptLimits:
    """The bounds of the module docstring (each value already checked by its group).

    Attributes:
        max_length: ``model.max_length``: tokens a prompt plus its answer may take.
        max_new_tokens: ``eval.max_new_tokens``: tokens generated after a free-form prompt.
        max_units: ``unpact.max_units``: UNPACT units per question.
        granularity: ``unpact.granularity`` (how units are counted).
        target: ``unpact.target``: ``reference`` scores the gold answer after the prompt.
    """

    max_length: int
    max_new_tokens: int
    max_units: int
    granularity: str
    target: str


def prompt_limits(unpact: UnpactConfig, max_new_tokens: int, max_length: int) -> PromptLimits:
    """The bounds of a run: its UNPACT settings, answer length and model context."""
    return PromptLimits(
        max_length=max_length,
        max_new_tokens=max_new_tokens,
        max_units=unpact.max_units,
        granularity=unpact.granularity,
        target=unpact.target,
    )


def count_units(question: str, question_tokens: int, granularity: str) -> int:
    """UNPACT units of a question: its tokens, or its whitespace-separated words."""
    if granularity == "token":
        return question_tokens
    return len(re.findall(r"\S+", question))


def check_prompt(
    tokenizer: Any, parts: PromptParts, after: int, limits: PromptLimits, row: str
) -> None:
    """Refuse one rendered prompt that breaks a bound (see the module docstring).

    Args:
        tokenizer: the model's tokenizer.
        parts: the rendered prompt.
        after: tokens generated or scored after the prompt.
        limits: the bounds.
        row: names the item in the error (``"row 3 of forget_qa"``).

    Raises:
        DataError: the prompt is too long, or its question has too many units.
    """
    encoded = encode_parts(tokenizer, parts)
    total = len(encoded.input_ids) + after
    if total > limits.max_length:
        raise DataError(
            f"{row}: its prompt is {len(encoded.input_ids)} tokens after the template, plus "
            f"{after} for the answer: {total} > model.max_length={limits.max_length}. "
            "Shorten or remove that row, or raise model.max_length if the model's context "
            "allows (or lower eval.max_new_tokens)."
        )
    question_tokens = encoded.question_end - encoded.question_start
    units = count_units(parts.question, question_tokens, limits.granularity)
    if units > limits.max_units:
        raise DataError(
            f"{row}: its question has {units} UNPACT units (unpact.granularity="
            f"{limits.granularity}) > unpact.max_units={limits.max_units}. Shorten or remove "
            "that row, or raise unpact.max_units (UNPACT's cost grows with its square)."
        )


def answer_reserve(tokenizer: Any, item: QAItem, fmt: PromptFormat, limits: PromptLimits) -> int:
    """Tokens after a free-form prompt: generated, or the gold answer with ``target=reference``."""
    if limits.target == "generated":
        return limits.max_new_tokens
    gold = len(tokenizer(fmt.answer_prefix + item.answer, add_special_tokens=False)["input_ids"])
    return max(limits.max_new_tokens, gold)


def _mc_after(tokenizer: Any, item: MCItem, fmt: PromptFormat) -> int:
    letters = LETTERS[: len(item.choices)]
    return max(
        len(tokenizer(fmt.mc_answer_prefix + letter, add_special_tokens=False)["input_ids"])
        for letter in letters
    )


def check_benchmark_prompts(
    bench: Benchmark, tokenizer: Any, fmt: PromptFormat, limits: PromptLimits
) -> None:
    """Check every free-form and multiple-choice item of ``bench`` (module docstring).

    Raises:
        DataError: naming the first row that breaks a bound.
    """
    icl: Sequence[QAItem] = bench.icl
    for split in QA_SPLITS:
        for index, item in enumerate(getattr(bench, split)):
            parts = fmt.parts(item.question, tokenizer, icl=icl)
            after = answer_reserve(tokenizer, item, fmt, limits)
            check_prompt(tokenizer, parts, after, limits, _row(bench, split, index))
    for split in MC_SPLITS:
        for index, item in enumerate(getattr(bench, split)):
            after = _mc_after(tokenizer, item, fmt)
            check_prompt(tokenizer, fmt.mc_parts(item, tokenizer), after, limits,
                         _row(bench, split, index))  # fmt: skip


def _row(bench: Benchmark, split: str, index: int) -> str:
    return f"item {index} (0-based, in file order) of {split} of data={bench.name}"
