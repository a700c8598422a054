"""Asking a model about items: free-form and multiple-choice questions behind one interface.

The two kinds of item are answered differently (greedy generation judged by the answer
judge vs. letter scoring, docs/science.md §4) but everything the evaluation and the attacks
do with them is the same five operations:

- ``answer``: the model's answer to each item's plain prompt, and whether it is correct;
- ``contributions``: UNPACT against the answer or the gold one (``unpact.target``);
- ``ask``: greedy answers to *rewritten* questions (FocusOnKey's templates, paraphrases,
  re-asks), several per item, optionally with other in-context demonstrations;
- ``judge``: which of those answers are correct;
- ``sample``: answers sampled at a temperature (PROBAB).

:class:`QATask` and :class:`MCTask` implement them, so every attack is written once for
both kinds, and :class:`~unpact_exp.evaluation.sharding.ShardedTask` splits the
per-item operations across ranks without knowing any attack.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol

import torch

from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import DataError
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.evaluation.multiple_choice import (
    mc_letter_logprobs,
    mc_predictions,
    sample_letters,
)
from unpact_exp.judge.base import Judge
from unpact_exp.judge.registry import build as build_judge
from unpact_exp.models.prompt import LETTERS, PromptFormat, PromptParts
from unpact_exp.unpact.config import UnpactConfig
from unpact_exp.unpact.contributions import (
    PromptContributions,
    prompt_contributions,
    select_targets,
)
from unpact_exp.unpact.generation import greedy_answers, sampled_answers


@dataclass(frozen=True)
class Answers:
    """One model's answers to a list of items.

    Attributes:
        texts: the greedy answer (free-form) or the predicted letter (multiple choice).
        correct: whether each answer is correct.
    """

    texts: list[str]
    correct: list[bool]

    def subset(self, indices: Sequence[int]) -> Answers:
        """The answers of the items at ``indices``."""
        return Answers([self.texts[i] for i in indices], [self.correct[i] for i in indices])


@dataclass(frozen=True)
class TaskContext:
    """What every task needs besides the model: tokenizer, prompt format and settings.

    Attributes:
        tokenizer: the tokenizer shared by M0 and M1.
        prompt_format: how questions are rendered.
        icl: in-context examples for free-form prompts (never perturbed by UNPACT).
        unpact: the ``unpact`` group.
        eval: the ``eval`` group.
    """

    tokenizer: Any
    prompt_format: PromptFormat
    icl: tuple[QAItem, ...]
    unpact: UnpactConfig
    eval: EvalConfig

    @functools.cached_property
    def judge(self) -> Judge:
        """The judge ``eval.judge`` names, with the settings it reads."""
        cfg = self.eval
        return build_judge(
            cfg.judge, correct_threshold=cfg.correct_threshold, rouge_stemming=cfg.rouge_stemming
        )


def eval_answers(
    model: torch.nn.Module, tokenizer: Any, prompts: Sequence[PromptParts], eval_cfg: EvalConfig
) -> list[str]:
    """Greedy answers under the evaluation's settings: ``eval.max_new_tokens``,
    ``eval.stop_strings`` and ``eval.generation_batch_size``, the one place that says which
    knobs govern every greedy answer the evaluation judges."""
    return greedy_answers(
        model,
        tokenizer,
        prompts,
        eval_cfg.max_new_tokens,
        eval_cfg.stop_strings,
        eval_cfg.generation_batch_size,
    )


class Task(Protocol):
    """The operations the evaluation and the attacks need on a list of items of one kind."""

    kind: str
    ctx: TaskContext

    def gold(self, items: Sequence[Any]) -> list[str]:
        """Gold answer texts (the answer, or the gold letter)."""
        ...

    def answer(self, model: torch.nn.Module, items: Sequence[Any]) -> Answers:
        """The model's answers to the plain prompts and their correctness."""
        ...

    def contributions(
        self, model: torch.nn.Module, items: Sequence[Any], answers: Answers
    ) -> list[PromptContributions]:
        """UNPACT against the model's answers or the gold ones (``unpact.target``)."""
        ...

    def ask(
        self,
        model: torch.nn.Module,
        items: Sequence[Any],
        questions: Sequence[Sequence[str]],
        icl: Sequence[QAItem] | None = None,
    ) -> list[list[str]]:
        """Greedy answers to each item's rewritten ``questions`` (``icl``: other demonstrations)."""
        ...

    def judge(self, items: Sequence[Any], answers: Sequence[Sequence[str]]) -> list[list[bool]]:
        """Per item, whether each of its answers is correct."""
        ...

    def sample(
        self,
        model: torch.nn.Module,
        items: Sequence[Any],
        num_samples: int,
        temperature: float,
        top_p: float,
        seed: int,
    ) -> list[list[str]]:
        """``num_samples`` answers per item drawn at ``temperature`` / ``top_p`` from ``seed``."""
        ...

    def local(self) -> Task:
        """The task run in this process alone (itself, unless it is sharded)."""
        ...


@dataclass(frozen=True)
class _ItemTask:
    """What free-form and multiple-choice tasks share: UNPACT against the chosen target."""

    ctx: TaskContext

    def prompts(self, items: Sequence[Any]) -> list[PromptParts]:
        raise NotImplementedError

    def gold(self, items: Sequence[Any]) -> list[str]:
        raise NotImplementedError

    def answer_prefix(self) -> str:
        """Text between the prompt and a scored target."""
        return self.ctx.prompt_format.answer_prefix

    def contributions(
        self, model: torch.nn.Module, items: Sequence[Any], answers: Answers
    ) -> list[PromptContributions]:
        """UNPACT with the model's answer or the gold one as target (``unpact.target``)."""
        unpact = self.ctx.unpact
        targets = select_targets(unpact.target, answers.texts, self.gold(items))
        return prompt_contributions(
            model,
            self.ctx.tokenizer,
            self.prompts(items),
            targets,
            self.answer_prefix(),
            unpact.granularity,
            unpact.removal,
            unpact.filler,
            self.ctx.eval.scoring_batch_size,
        )

    def local(self) -> Task:
        """This task (it runs in this process)."""
        return self  # type: ignore[return-value]


def _regroup(flat: Sequence[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """Cut a flat list back into consecutive groups of the given sizes."""
    out = iter(flat)
    return [[next(out) for _ in range(size)] for size in sizes]


@dataclass(frozen=True)
class QATask(_ItemTask):
    """Free-form (knowmem) items: greedy answers, judged against the gold answer."""

    ctx: TaskContext
    kind: ClassVar[str] = "qa"

    def prompts(
        self, items: Sequence[QAItem], icl: Sequence[QAItem] | None = None
    ) -> list[PromptParts]:
        """Knowmem prompts, in-context examples in the prefix."""
        fmt, tok = self.ctx.prompt_format, self.ctx.tokenizer
        shots = self.ctx.icl if icl is None else tuple(icl)
        return [fmt.parts(item.question, tok, icl=shots) for item in items]

    def gold(self, items: Sequence[QAItem]) -> list[str]:
        """The gold answers."""
        return [item.answer for item in items]

    def answer(self, model: torch.nn.Module, items: Sequence[QAItem]) -> Answers:
        """Greedy answers and their correctness."""
        texts = eval_answers(model, self.ctx.tokenizer, self.prompts(items), self.ctx.eval)
        correct = [hits[0] for hits in self.judge(items, [[text] for text in texts])]
        return Answers(texts=texts, correct=correct)

    def ask(
        self,
        model: torch.nn.Module,
        items: Sequence[QAItem],
        questions: Sequence[Sequence[str]],
        icl: Sequence[QAItem] | None = None,
    ) -> list[list[str]]:
        """Greedy answers to every rewritten question of every item, in one batched run."""
        fmt, tok = self.ctx.prompt_format, self.ctx.tokenizer
        shots = self.ctx.icl if icl is None else tuple(icl)
        prompts = [fmt.parts(q, tok, icl=shots) for qs in questions for q in qs]
        outputs = eval_answers(model, tok, prompts, self.ctx.eval)
        return _regroup(outputs, [len(qs) for qs in questions])

    def judge(self, items: Sequence[QAItem], answers: Sequence[Sequence[str]]) -> list[list[bool]]:
        """The run's judge (``eval.judge``) on each answer, with the item's aliases and
        distractors."""
        judge = self.ctx.judge
        return [
            [
                judge.judge(
                    item.question,
                    item.answer,
                    a,
                    aliases=item.aliases,
                    distractors=item.distractors,
                ).correct
                for a in tried
            ]
            for item, tried in zip(items, answers)
        ]

    def sample(
        self,
        model: torch.nn.Module,
        items: Sequence[QAItem],
        num_samples: int,
        temperature: float,
        top_p: float,
        seed: int,
    ) -> list[list[str]]:
        """Multinomial samples of the plain prompt's answer, reproducible from ``seed``."""
        cfg = self.ctx.eval
        return sampled_answers(
            model,
            self.ctx.tokenizer,
            self.prompts(items),
            num_samples,
            temperature,
            top_p,
            seed,
            cfg.max_new_tokens,
            cfg.stop_strings,
            cfg.sampling_batch_size,
        )


@dataclass(frozen=True)
class MCTask(_ItemTask):
    """Multiple-choice items: the predicted letter is the argmax of the letter log-probs."""

    ctx: TaskContext
    kind: ClassVar[str] = "mc"

    def prompts(self, items: Sequence[MCItem]) -> list[PromptParts]:
        """Zero-shot prompts with lettered choices after the question (validated)."""
        for item in items:
            if not item.choices or not 0 <= item.answer < len(item.choices):
                raise DataError(
                    f"multiple-choice item {item.question!r} has {len(item.choices)} choices "
                    f"and answer index {item.answer}; it needs >= 1 choice and an index "
                    "within them."
                )
        return [self.ctx.prompt_format.mc_parts(item, self.ctx.tokenizer) for item in items]

    def gold(self, items: Sequence[MCItem]) -> list[str]:
        """The gold letters."""
        return [LETTERS[item.answer] for item in items]

    def answer_prefix(self) -> str:
        """lm-eval's delimiter before the letter (:attr:`PromptFormat.mc_answer_prefix`)."""
        return self.ctx.prompt_format.mc_answer_prefix

    def _letters(self, model: torch.nn.Module, items: Sequence[MCItem]) -> list[str]:
        ctx = self.ctx
        predictions = mc_predictions(
            model, ctx.tokenizer, ctx.prompt_format, items, ctx.eval.mc_batch_size
        )
        return [LETTERS[p] for p in predictions]

    def answer(self, model: torch.nn.Module, items: Sequence[MCItem]) -> Answers:
        """Predicted letters and exact-match correctness."""
        self.prompts(items)  # validation only
        texts = self._letters(model, items)
        correct = [hits[0] for hits in self.judge(items, [[text] for text in texts])]
        return Answers(texts=texts, correct=correct)

    def ask(
        self,
        model: torch.nn.Module,
        items: Sequence[MCItem],
        questions: Sequence[Sequence[str]],
        icl: Sequence[QAItem] | None = None,
    ) -> list[list[str]]:
        """The predicted letter for each rewritten question, the item's choices kept."""
        if icl:
            raise ValueError("multiple-choice items are asked zero-shot; no demonstrations")
        rewritten = [replace(item, question=q) for item, qs in zip(items, questions) for q in qs]
        return _regroup(self._letters(model, rewritten), [len(qs) for qs in questions])

    def judge(self, items: Sequence[MCItem], answers: Sequence[Sequence[str]]) -> list[list[bool]]:
        """Whether each letter is the gold one."""
        return [[a == LETTERS[item.answer] for a in tried] for item, tried in zip(items, answers)]

    def sample(
        self,
        model: torch.nn.Module,
        items: Sequence[MCItem],
        num_samples: int,
        temperature: float,
        top_p: float,
        seed: int,
    ) -> list[list[str]]:
        """Letters drawn from the model's letter distribution (the MC analogue of sampling)."""
        ctx = self.ctx
        scores = mc_letter_logprobs(
            model, ctx.tokenizer, ctx.prompt_format, items, ctx.eval.mc_batch_size
        )
        draws = sample_letters(scores, num_samples, temperature, top_p, seed)
        return [[LETTERS[d] for d in picks] for picks in draws]
