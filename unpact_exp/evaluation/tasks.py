"""Free-form and multiple-choice items behind one interface, for the evaluator.

The two kinds of item are answered differently (greedy generation judged by ROUGE-L
vs. letter scoring, docs/science.md §4) but the analysis is the same for both: an answer
text and a correct flag per item, UNPACT contributions against ``unpact.target``,
FocusOnKey and PROBAB recovery. :class:`QATask` and :class:`MCTask` implement that
interface, so the evaluator handles MUSE (free-form) and WMDP (multiple-choice)
benchmarks with one code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

from unpact_exp.attacks.focus_on_key import Recovery, focus_on_key, focus_on_key_mc
from unpact_exp.attacks.probab import probab, probab_mc
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import DataError
from unpact_exp.evaluation.correctness import is_correct, mc_predictions
from unpact_exp.models.prompt import LETTERS, PromptFormat, PromptParts
from unpact_exp.unpact.config import EvalConfig, ProbabConfig, UnpactConfig
from unpact_exp.unpact.contributions import (
    PromptContributions,
    prompt_contributions,
    select_targets,
)
from unpact_exp.unpact.generation import eval_answers


@dataclass(frozen=True)
class Answers:
    """One model's answers to a list of items.

    Attributes:
        texts: the greedy answer (free-form) or the predicted letter (multiple choice).
        correct: whether each answer is correct.
    """

    texts: list[str]
    correct: list[bool]


@dataclass(frozen=True)
class TaskContext:
    """What every task needs besides the model: tokenizer, prompt format and configs.

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


class Task(Protocol):
    """The operations the evaluator needs on a list of items of one kind."""

    kind: str

    def gold(self, items: Sequence[Any]) -> list[str]:
        """Gold answer texts (the answer, or the gold letter)."""
        ...

    def answer(self, model: torch.nn.Module, items: Sequence[Any]) -> Answers:
        """The model's answers and their correctness."""
        ...

    def contributions(
        self, model: torch.nn.Module, items: Sequence[Any], answers: Answers
    ) -> list[PromptContributions]:
        """UNPACT against the model's answers or the gold ones (``unpact.target``)."""
        ...

    def focus(
        self,
        model: torch.nn.Module,
        items: Sequence[Any],
        keys: Sequence[str],
        templates: Sequence[str],
    ) -> Recovery:
        """FocusOnKey recovery with the given KeyTokens phrases."""
        ...

    def sample(
        self, model: torch.nn.Module, items: Sequence[Any], num_samples: int, cfg: ProbabConfig
    ) -> Recovery:
        """PROBAB recovery with ``num_samples`` samples per item."""
        ...


def _unpact(
    model: torch.nn.Module,
    ctx: TaskContext,
    prompts: Sequence[PromptParts],
    targets: Sequence[str],
    answer_prefix: str,
) -> list[PromptContributions]:
    return prompt_contributions(
        model,
        ctx.tokenizer,
        prompts,
        targets,
        answer_prefix,
        ctx.unpact.granularity,
        ctx.unpact.removal,
        ctx.unpact.filler,
        ctx.eval.scoring_batch_size,
    )


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
        targets = select_targets(self.ctx.unpact.target, answers.texts, self.gold(items))
        return _unpact(model, self.ctx, self.prompts(items), targets, self.answer_prefix())


@dataclass(frozen=True)
class QATask(_ItemTask):
    """Free-form (knowmem) items: greedy answers judged by ROUGE-L recall."""

    ctx: TaskContext
    kind: ClassVar[str] = "qa"

    def prompts(self, items: Sequence[QAItem]) -> list[PromptParts]:
        """Knowmem prompts, in-context examples in the prefix."""
        fmt, tok = self.ctx.prompt_format, self.ctx.tokenizer
        return [fmt.parts(item.question, tok, icl=self.ctx.icl) for item in items]

    def gold(self, items: Sequence[QAItem]) -> list[str]:
        """The gold answers."""
        return [item.answer for item in items]

    def answer(self, model: torch.nn.Module, items: Sequence[QAItem]) -> Answers:
        """Greedy answers and ROUGE-L-recall correctness."""
        cfg = self.ctx.eval
        texts = eval_answers(model, self.ctx.tokenizer, self.prompts(items), cfg)
        correct = [
            is_correct(item.answer, text, cfg.correct_threshold, stemming=cfg.rouge_stemming)
            for item, text in zip(items, texts)
        ]
        return Answers(texts=texts, correct=correct)

    def focus(
        self,
        model: torch.nn.Module,
        items: Sequence[QAItem],
        keys: Sequence[str],
        templates: Sequence[str],
    ) -> Recovery:
        """FocusOnKey with greedy answers to each template."""
        ctx = self.ctx
        return focus_on_key(
            model, ctx.tokenizer, ctx.prompt_format, items, keys, templates, ctx.icl, ctx.eval
        )

    def sample(
        self, model: torch.nn.Module, items: Sequence[QAItem], num_samples: int, cfg: ProbabConfig
    ) -> Recovery:
        """PROBAB with sampled free-form answers."""
        ctx = self.ctx
        return probab(
            model, ctx.tokenizer, ctx.prompt_format, items, num_samples, ctx.icl, cfg, ctx.eval
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

    def answer(self, model: torch.nn.Module, items: Sequence[MCItem]) -> Answers:
        """Predicted letters and exact-match correctness."""
        self.prompts(items)  # validation only
        ctx = self.ctx
        predictions = mc_predictions(
            model, ctx.tokenizer, ctx.prompt_format, items, ctx.eval.mc_batch_size
        )
        return Answers(
            texts=[LETTERS[p] for p in predictions],
            correct=[p == item.answer for p, item in zip(predictions, items)],
        )

    def focus(
        self,
        model: torch.nn.Module,
        items: Sequence[MCItem],
        keys: Sequence[str],
        templates: Sequence[str],
    ) -> Recovery:
        """FocusOnKey with the rewritten question and the same choices."""
        ctx = self.ctx
        return focus_on_key_mc(
            model, ctx.tokenizer, ctx.prompt_format, items, keys, templates, ctx.eval.mc_batch_size
        )

    def sample(
        self, model: torch.nn.Module, items: Sequence[MCItem], num_samples: int, cfg: ProbabConfig
    ) -> Recovery:
        """PROBAB with letters sampled from the model's letter distribution."""
        ctx = self.ctx
        return probab_mc(
            model, ctx.tokenizer, ctx.prompt_format, items, num_samples, cfg, ctx.eval.mc_batch_size
        )
