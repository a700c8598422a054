"""FocusOnKey: re-ask a forgotten question with its KeyTokens emphasised (docs/science.md §5).

If unlearning only moved the model's focus away from the KeyTokens, pointing at them
again ("Focus on {keys} to answer. {question}") brings the answer back. A forgotten
question is *recovered* when the greedy answer to any template is correct; a
multiple-choice item when any template's predicted letter is the gold one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.evaluation.correctness import any_correct, mc_predictions
from unpact_exp.models.prompt import LETTERS, PromptFormat, PromptParts
from unpact_exp.unpact.config import EvalConfig
from unpact_exp.unpact.generation import eval_answers


@dataclass(frozen=True)
class Recovery:
    """Outcome of a recovery attempt on a list of questions.

    Attributes:
        recovered: per question, whether any attempt was correct.
        answers: per question, every answer tried (empty when nothing was tried).
    """

    recovered: list[bool]
    answers: list[list[str]]


def keys_phrase(units: Sequence[str], keytoken_indices: Sequence[int]) -> str:
    """The KeyTokens rendered as a phrase: their unit texts in question order, space-joined.

    With ``unpact.granularity: token`` each unit text is the decoded, stripped token,
    so sub-word pieces come out as separate "words" (e.g. "Par is"); with ``word`` the
    original words are used verbatim.
    """
    return " ".join(units[i] for i in sorted(keytoken_indices) if units[i])


def focus_questions(question: str, keys: str, templates: Sequence[str]) -> list[str]:
    """One rewritten question per template: ``template.format(keys=keys, question=question)``."""
    return [template.format(keys=keys, question=question) for template in templates]


def focus_on_key(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[QAItem],
    keys: Sequence[str],
    templates: Sequence[str],
    icl: Sequence[QAItem],
    eval_cfg: EvalConfig,
) -> Recovery:
    """Ask ``model`` every template of every item (one batched greedy run) and judge them.

    A question whose KeyTokens phrase is empty (the source model put no weight on any
    question unit) has nothing to focus on: it is not asked and counts as not recovered.

    Args:
        model: the unlearned model M1.
        tokenizer: its tokenizer.
        prompt_format: renders each rewritten question (with ``icl`` examples in the prefix).
        items: the forgotten questions with their gold answers.
        keys: the KeyTokens phrase per item (see :func:`keys_phrase`).
        templates: ``focus_on_key.templates``.
        icl: in-context examples, as in the plain knowmem prompt.
        eval_cfg: generation length, stop strings, batch size and correctness threshold.
    """
    if len(items) != len(keys):
        raise ValueError(f"{len(items)} items but {len(keys)} key phrases; give one each.")
    prompts: list[PromptParts] = []
    owners: list[int] = []
    for index, (item, phrase) in enumerate(zip(items, keys)):
        if not phrase:
            continue
        for question in focus_questions(item.question, phrase, templates):
            prompts.append(prompt_format.parts(question, tokenizer, icl=icl))
            owners.append(index)
    outputs = eval_answers(model, tokenizer, prompts, eval_cfg)
    answers: list[list[str]] = [[] for _ in items]
    for owner, output in zip(owners, outputs):
        answers[owner].append(output)
    recovered = any_correct(
        [item.answer for item in items],
        answers,
        eval_cfg.correct_threshold,
        stemming=eval_cfg.rouge_stemming,
    )
    return Recovery(recovered=recovered, answers=answers)


def focus_on_key_mc(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt_format: PromptFormat,
    items: Sequence[MCItem],
    keys: Sequence[str],
    templates: Sequence[str],
    batch_size: int,
) -> Recovery:
    """FocusOnKey for multiple-choice items: the rewritten question keeps its choices.

    The "answer" to each template is the predicted letter; the item is recovered when
    any template's letter is the gold one. Items with an empty phrase are not asked.
    """
    if len(items) != len(keys):
        raise ValueError(f"{len(items)} items but {len(keys)} key phrases; give one each.")
    rewritten: list[MCItem] = []
    owners: list[int] = []
    for index, (item, phrase) in enumerate(zip(items, keys)):
        if not phrase:
            continue
        for question in focus_questions(item.question, phrase, templates):
            rewritten.append(replace(item, question=question))
            owners.append(index)
    predictions = mc_predictions(model, tokenizer, prompt_format, rewritten, batch_size)
    answers: list[list[str]] = [[] for _ in items]
    recovered = [False] * len(items)
    for owner, prediction in zip(owners, predictions):
        answers[owner].append(LETTERS[prediction])
        recovered[owner] = recovered[owner] or prediction == items[owner].answer
    return Recovery(recovered=recovered, answers=answers)
