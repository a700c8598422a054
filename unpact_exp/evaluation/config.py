"""The ``eval`` group: what the evaluation asks, how it judges, and how much it evaluates.

Bound once per run (:mod:`unpact_exp.config.binder`) from ``conf/eval``; the evaluation,
the attacks and the stages receive this object, never the raw node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from unpact_exp.config import checks
from unpact_exp.errors import UnpactConfigError

PHASE_BATCH_SIZES = (
    "batch_size",
    "generation_batch_size",
    "sampling_batch_size",
    "mc_batch_size",
    "scoring_batch_size",
)


@dataclass(frozen=True)
class LabelSettings:
    """``eval.labels``: which forget questions count as known and as forgotten (§5).

    An *ask* is one greedy answer to a neutral prompt: the plain prompt, or the question
    reworded by one of ``neutral_templates`` without any emphasis. With ``asks`` asks per
    question, ``known`` is M0 right on every ask (``all``) or on most (``majority``), and
    *forgotten* is known and M1 wrong on every ask; a question M0 answers right on some asks
    but is not known is *unstable*: counted, and left out of the rates.

    Attributes:
        asks: neutral asks per question (1: the plain prompt alone, as before issue 22).
        known: ``all`` or ``majority``.
        neutral_templates: rewordings with ``{question}``; the first ``asks - 1`` label the
            questions, the next ones are the ``reask`` control's.
    """

    asks: int
    known: Literal["all", "majority"]
    neutral_templates: tuple[str, ...]

    def __post_init__(self) -> None:
        checks.at_least("eval.labels.asks", self.asks, 1)
        for template in self.neutral_templates:
            if "{question}" not in template:
                raise UnpactConfigError(
                    f"eval.labels.neutral_templates entry {template!r} has no {{question}}."
                )
        if len(self.neutral_templates) < self.asks - 1:
            raise UnpactConfigError(
                f"eval.labels.asks={self.asks} needs {self.asks - 1} neutral rewordings, but "
                f"eval.labels.neutral_templates has {len(self.neutral_templates)}; add some."
            )

    def label_templates(self) -> tuple[str, ...]:
        """The rewordings that label the questions (after the plain prompt)."""
        return self.neutral_templates[: self.asks - 1]

    def spare_templates(self) -> tuple[str, ...]:
        """The rewordings the labels do not use (the ``reask`` control's)."""
        return self.neutral_templates[self.asks - 1 :]


@dataclass(frozen=True)
class EvalConfig:
    """The ``eval`` group (docs/science.md §4).

    Attributes:
        max_new_tokens: greedy answer length limit.
        stop_strings: answers are cut at the first of these.
        judge: which judge decides a free-form answer is correct (``strict`` or
            ``rouge_recall``; :mod:`unpact_exp.judge`).
        correct_threshold: ROUGE-L recall of the gold answer needed to be correct, in (0, 1]
            (the ``rouge_recall`` judge).
        batch_size: the default batch size of every phase below (kept for overrides).
        generation_batch_size: prompts per greedy ``generate`` call (answers, FocusOnKey,
            attacks).
        sampling_batch_size: prompts per PROBAB sampling call.
        mc_batch_size: multiple-choice items per letter-scoring forward pass.
        scoring_batch_size: UNPACT prompt variants per forward pass (default
            ``unpact.batch_size``).
        progress: ``auto`` (a bar per evaluation phase on an interactive terminal, a log line
            per phase otherwise), ``true`` (bars), ``lines`` or ``false`` (see
            :mod:`unpact_exp.unpact.progress`).
        max_forget_questions: evaluate only the first N forget items (``None``: all).
        max_utility_items: evaluate only the first N of each utility / retain list.
        rate_items: which item kinds feed the pooled rates: auto | qa | mc | both
            (see :func:`unpact_exp.evaluation.items.rate_kinds`).
        rouge_stemming: Porter-stem both texts before ROUGE-L (false: as MUSE; true: as
            TOFU/open-unlearning's ``use_stemmer=True``).
        cache_original: reuse M0's analysis across the jobs of a sweep
            (:mod:`unpact_exp.evaluation.original_cache`).
        heatmap_questions: forget questions drawn in the contribution heatmap (0: none).
        labels: how known and forgotten are decided (:class:`LabelSettings`).
        attack_questions: which questions the recovery attacks and their controls ask:
            ``forgotten`` (F, the paper's measurement) or ``never_known`` (the questions M0
            never knew: the null where nothing can come back from hidden knowledge, e.g.
            with M1 = M0, so FocusOnKey's excess over its controls there is pure rewording).
    """

    max_new_tokens: int
    stop_strings: tuple[str, ...]
    judge: str
    correct_threshold: float
    batch_size: int
    generation_batch_size: int
    sampling_batch_size: int
    mc_batch_size: int
    scoring_batch_size: int
    progress: bool | Literal["auto", "lines"]
    max_forget_questions: int | None
    max_utility_items: int | None
    rate_items: Literal["auto", "qa", "mc", "both"]
    rouge_stemming: bool
    cache_original: bool
    heatmap_questions: int
    labels: LabelSettings
    attack_questions: Literal["forgotten", "never_known"]

    def __post_init__(self) -> None:
        from unpact_exp.judge import registry

        registry.get(self.judge)  # an unknown judge is refused here, naming the judges
        checks.at_least("eval.max_new_tokens", self.max_new_tokens, 1)
        for phase in PHASE_BATCH_SIZES:
            checks.at_least(f"eval.{phase}", getattr(self, phase), 1)
        checks.unit_interval("eval.correct_threshold", self.correct_threshold)
        for key in ("max_forget_questions", "max_utility_items"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise UnpactConfigError(
                    f"eval.{key}={value!r} would evaluate nothing; use null (all items) or an "
                    "integer >= 1."
                )
        checks.at_least("eval.heatmap_questions", self.heatmap_questions, 0)
        if any(not s for s in self.stop_strings):
            raise UnpactConfigError(
                f"eval.stop_strings={list(self.stop_strings)!r} contains an empty string, "
                "which would cut every answer to nothing; remove it."
            )


def take_first(items: Sequence[Any], cap: int | None) -> list[Any]:
    """The first ``cap`` items (all when ``cap`` is None): deterministic evaluation subsets."""
    return list(items) if cap is None else list(items[:cap])
