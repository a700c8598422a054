"""The evaluator: everything docs/science.md §5 measures about an unlearned model, in one call.

An :class:`Evaluator` is built once per run with the original model M0. It computes
and caches what only depends on M0 (answers, correctness, UNPACT contributions and
KeyTokens on the forget items and on the utility items) and keeps no reference to
M0 afterwards. ``evaluate(M1)`` then measures an unlearned model against that cache:
forgetting, FocusOnKey and PROBAB recovery, destruction of utility, prompt ignorance
and the focus shift from M0 to M1. It is used by the Lightning callback (at every
evaluation step) and by the evaluation script, so it never imports Lightning.

Items: forget items are ``forget_qa`` (free-form) plus ``mc_forget`` (multiple choice),
each capped to its first ``eval.max_forget_questions``. Utility items are, as docs/science.md §5
says, the retain-set questions plus the general items: ``retain_qa``,
``mc_retain``, ``utility_qa`` and ``utility_mc``, each capped to its first
``eval.max_utility_items``; U is the subset M0 answers correctly. The M1 answers on
``retain_qa`` / ``mc_retain`` also give ``knowmem_retain`` / ``mc_retain_acc``. The
rates pool free-form and multiple-choice items, so a MUSE benchmark (free-form only)
and a WMDP one (multiple choice only) use the same metric names. Rates over an empty
subset are NaN (see :mod:`unpact_exp.evaluation.rates`).

Every rate travels with its counts and 95% Wilson interval (``<rate>_counts: [k, n]``,
``<rate>_ci: [low, high]`` or None over n = 0; docs/science.md §10), and FocusOnKey is tested
against PROBAB on the same forgotten questions with the exact McNemar test. The focus-shift
similarities are also split by outcome (docs/science.md §3): ``*_forgotten`` over the known
questions M1 now gets wrong, ``*_retained`` over those it still gets right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from unpact_exp.attacks.focus_on_key import Recovery, focus_questions, keys_phrase
from unpact_exp.attacks.recovery_attacks import (
    ATTACK_RATES,
    AttackConfig,
    AttackResult,
    icl_attack,
    paraphrase_attack,
    relearn_attack,
)
from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import UnpactConfigError
from unpact_exp.evaluation import original_cache, rates, statistics
from unpact_exp.evaluation.correctness import knowmem_score
from unpact_exp.evaluation.sharding import Shard, ShardedTask
from unpact_exp.evaluation.tasks import Answers, MCTask, QATask, Task, TaskContext
from unpact_exp.metrics.lm_eval import lm_eval_metrics
from unpact_exp.metrics.lm_eval_config import LmEvalConfig
from unpact_exp.metrics.muse import MuseMetrics
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.unpact.config import (
    EvalConfig,
    FocusOnKeyConfig,
    ProbabConfig,
    UnpactConfig,
    take_first,
)
from unpact_exp.unpact.contributions import PromptContributions
from unpact_exp.unpact.inference import analysis_mode
from unpact_exp.unpact.keytokens import (
    contribution_similarity,
    keytoken_similarity,
    keytokens,
)
from unpact_exp.unpact.progress import progress_mode


@dataclass(frozen=True)
class ContributionHeatmap:
    """Per-unit contributions of M0 and M1 on one forget question, for a heatmap.

    Attributes:
        question: the question text.
        units: the unit texts (rows of the heatmap).
        original: C_i under M0 (first column).
        unlearned: C_i under M1 (second column).
        forgotten: whether M1 forgot the answer.
    """

    question: str
    units: tuple[str, ...]
    original: tuple[float, ...]
    unlearned: tuple[float, ...]
    forgotten: bool


@dataclass
class EvaluationResult:
    """What :meth:`Evaluator.evaluate` returns.

    Attributes:
        metrics: scalar metrics, and per rate its ``_counts`` ``[k, n]`` and ``_ci``
            ``[low, high]`` (see :meth:`Evaluator.evaluate` for the keys).
        rows: one dict per forget item, free-form items first (for tables and reports).
        unlearned_contributions: M1's UNPACT result per forget item, aligned with ``rows``.
    """

    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
    unlearned_contributions: list[PromptContributions] = field(repr=False)

    def scalars(self) -> dict[str, float]:
        """The numeric metrics, for loggers (which take scalars; counts and intervals are
        lists, and an interval over nothing is None)."""
        return {
            k: v
            for k, v in self.metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }


@dataclass(frozen=True)
class _ForgetGroup:
    """Forget items of one kind with M0's answers, contributions and KeyTokens on each."""

    task: Task
    items: list[Any]
    answers: Answers
    contributions: list[PromptContributions]
    keytokens: list[list[int]]


@dataclass(frozen=True)
class _UtilityGroup:
    """Utility items of one kind; ``known`` indexes U (the items M0 answers correctly)."""

    task: Task
    items: list[Any]
    answers: Answers
    known: list[int]
    contributions: list[PromptContributions]


def _coerce(cls: Any, cfg: Any) -> Any:
    """Accept a config node or an already-built config dataclass."""
    return cfg if isinstance(cfg, cls) else cls.from_config(cfg)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _subset(answers: Answers, indices: Sequence[int]) -> Answers:
    return Answers(
        texts=[answers.texts[i] for i in indices], correct=[answers.correct[i] for i in indices]
    )


def _spread(recovery: Recovery, mask: Sequence[bool]) -> list[tuple[bool | None, list[str]]]:
    """Map a recovery run on the masked items back onto all items (None where not run)."""
    results = iter(zip(recovery.recovered, recovery.answers))
    return [next(results) if m else (None, []) for m in mask]


def _split_means(name: str, values: list[float], forgotten: list[bool]) -> dict[str, float]:
    """The overall mean of a similarity over the known items and its split by outcome.

    ``name`` is the mean over all known items (in item order, as before the split),
    ``name_forgotten`` over those M1 forgot, ``name_retained`` over those it still answers
    (NaN for an empty group), so that ``n_F * forgotten + n_R * retained == n * overall``.
    """
    return {
        name: _mean(values),
        f"{name}_forgotten": _mean([v for v, f in zip(values, forgotten) if f]),
        f"{name}_retained": _mean([v for v, f in zip(values, forgotten) if not f]),
    }


def _paired_test(
    focus_hits: list[bool], probab_hits: list[bool], forgotten: list[bool]
) -> dict[str, Any]:
    """FocusOnKey vs PROBAB on the same forgotten questions: discordant counts, McNemar p."""
    b, c = statistics.discordant_pairs(focus_hits, probab_hits, forgotten)
    return {
        "focus_vs_probab_discordant": [b, c],
        "focus_vs_probab_mcnemar_p": statistics.mcnemar_exact_p(b, c),
    }


def _encode_groups(groups: tuple[list[_ForgetGroup], dict[str, _UtilityGroup]]) -> dict[str, Any]:
    """M0's groups as JSON values for :mod:`unpact_exp.evaluation.original_cache`."""
    forget, utility = groups
    return {
        "forget": [
            original_cache.forget_to_json(g.answers, g.contributions, g.keytokens) for g in forget
        ],
        "utility": {
            n: original_cache.utility_to_json(g.answers, g.known, g.contributions)
            for n, g in utility.items()
        },
    }


def _decode_groups(
    forget_sets: list[tuple[Task, list[Any]]],
    utility_sets: dict[str, tuple[Task, list[Any]]],
    payload: dict[str, Any],
) -> tuple[list[_ForgetGroup], dict[str, _UtilityGroup]]:
    """Inverse of :func:`_encode_groups` for these items (ValueError when they do not fit)."""
    if len(payload["forget"]) != len(forget_sets) or set(payload["utility"]) != set(utility_sets):
        raise ValueError("the entry's groups differ from this run's")
    forget = [
        _ForgetGroup(task, items, *original_cache.forget_from_json(data, len(items)))
        for (task, items), data in zip(forget_sets, payload["forget"])
    ]
    utility = {
        n: _UtilityGroup(t, i, *original_cache.utility_from_json(payload["utility"][n], len(i)))
        for n, (t, i) in utility_sets.items()
    }
    return forget, utility


RATE_ITEMS = ("auto", "qa", "mc", "both")


def rate_kinds(rate_items: str, benchmark: Benchmark) -> set[str]:
    """Which item kinds feed the pooled rates (``eval.rate_items``).

    ``auto`` takes the free-form items when the dataset has free-form forget
    questions (MUSE, synthetic) and the multiple-choice ones otherwise (WMDP), as
    the paper measures each benchmark; the other kinds then only get an accuracy.
    """
    if rate_items not in RATE_ITEMS:
        raise UnpactConfigError(f"eval.rate_items={rate_items!r} is not one of {list(RATE_ITEMS)}.")
    if rate_items == "both":
        return {"qa", "mc"}
    if rate_items == "auto":
        return {"qa"} if benchmark.forget_qa else {"mc"}
    return {rate_items}


class Evaluator:
    """Measures unlearned models against an original model M0 (docs/science.md §2-5).

    Construction runs M0 on every evaluated item (greedy answers or letter scores,
    UNPACT, KeyTokens) once; :meth:`evaluate` is then called with each unlearned model.

    Args:
        model: the original model M0; used only inside the constructor, not kept.
        tokenizer: the tokenizer shared by M0 and every M1.
        prompt_format: how questions are rendered for this model.
        benchmark: the dataset (forget, retain and utility items, ICL examples).
        unpact_cfg: the ``unpact`` config node (or an :class:`UnpactConfig`).
        focus_on_key_cfg: the ``focus_on_key`` node (or a :class:`FocusOnKeyConfig`).
        probab_cfg: the ``probab`` node (or a :class:`ProbabConfig`).
        eval_cfg: the ``eval`` node (or an :class:`EvalConfig`).
        attacks_cfg: the ``attacks`` node (or an :class:`AttackConfig`); None: no attacks.
        shard: under several ranks, this rank's share of the items (every task is then a
            :class:`~unpact_exp.evaluation.sharding.ShardedTask`); None: one process.
        muse: MUSE's VerbMem / PrivLeak on M0 and each M1 (see
            :mod:`unpact_exp.metrics.muse`); None: not computed.
        lm_eval_cfg: the ``eval.lm_eval`` node (or an :class:`LmEvalConfig`); None: no
            lm-eval accuracies.
        original_cache_dir: where M0's analysis is cached across jobs
            (:mod:`unpact_exp.evaluation.original_cache`); None: always computed.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        prompt_format: PromptFormat,
        benchmark: Benchmark,
        unpact_cfg: Any,
        focus_on_key_cfg: Any,
        probab_cfg: Any,
        eval_cfg: Any,
        attacks_cfg: Any = None,
        shard: Shard | None = None,
        muse: MuseMetrics | None = None,
        lm_eval_cfg: Any = None,
        original_cache_dir: Path | None = None,
    ) -> None:
        self._muse = muse
        self.unpact: UnpactConfig = _coerce(UnpactConfig, unpact_cfg)
        self.attacks: AttackConfig | None = (
            None if attacks_cfg is None else _coerce(AttackConfig, attacks_cfg)
        )
        self.focus_on_key: FocusOnKeyConfig = _coerce(FocusOnKeyConfig, focus_on_key_cfg)
        self.probab: ProbabConfig = _coerce(ProbabConfig, probab_cfg)
        self.eval: EvalConfig = _coerce(EvalConfig, eval_cfg)
        self.lm_eval: LmEvalConfig | None = (
            lm_eval_cfg if isinstance(lm_eval_cfg, LmEvalConfig)
            else LmEvalConfig.from_config(lm_eval_cfg)
        )  # fmt: skip
        ctx = TaskContext(tokenizer, prompt_format, tuple(benchmark.icl), self.unpact, self.eval)
        self._qa, self._mc = QATask(ctx), MCTask(ctx)
        # Retain and utility questions get the retain ICL examples (MUSE's knowmem_r).
        retain_qa: Task = QATask(replace(ctx, icl=tuple(benchmark.retain_icl)))
        if shard is not None:
            self._qa, self._mc, retain_qa = (
                ShardedTask(t, shard) for t in (self._qa, self._mc, retain_qa)
            )
        forget_cap, utility_cap = self.eval.max_forget_questions, self.eval.max_utility_items
        kinds = rate_kinds(self.eval.rate_items, benchmark)
        forget = (
            ("forget_qa", self._qa, benchmark.forget_qa),
            ("mc_forget", self._mc, benchmark.mc_forget),
        )
        utility = (
            ("retain_qa", retain_qa, benchmark.retain_qa),
            ("mc_retain", self._mc, benchmark.mc_retain),
            ("utility_qa", retain_qa, benchmark.utility_qa),
            ("utility_mc", self._mc, benchmark.utility_mc),
        )
        # MC lists outside the rates still get an accuracy (mc_forget_acc / mc_retain_acc).
        self._accuracy_only = {
            name: take_first(items, forget_cap if name == "mc_forget" else utility_cap)
            for name, task, items in (forget[1], utility[1])
            if task.kind not in kinds and items
        }
        forget_sets = [(t, take_first(i, forget_cap)) for _, t, i in forget if t.kind in kinds]
        utility_sets = {
            n: (t, take_first(i, utility_cap)) for n, t, i in utility if t.kind in kinds
        }
        with analysis_mode(model), progress_mode(self.eval.progress, "M0"):
            self._forget, self._utility = self._analyse_original(
                model, forget_sets, utility_sets, benchmark.retain_icl, original_cache_dir
            )
        self._original_metrics = self._original()
        self._tokenizer = tokenizer
        self._original_metrics |= lm_eval_metrics(model, tokenizer, self.lm_eval, "_original")

    @classmethod
    def from_config(
        cls,
        model: torch.nn.Module,
        tokenizer: Any,
        prompt_format: PromptFormat,
        benchmark: Benchmark,
        cfg: Any,
        shard: Shard | None = None,
    ) -> Evaluator:
        """Build from a root config that holds the ``unpact``, ``focus_on_key``,
        ``probab`` and ``eval`` groups (as every entry point's config does)."""
        return cls(
            model,
            tokenizer,
            prompt_format,
            benchmark,
            cfg.unpact,
            cfg.focus_on_key,
            cfg.probab,
            cfg.eval,
            cfg.get("attacks"),
            shard=shard,
            muse=MuseMetrics.from_config(model, tokenizer, benchmark, cfg),
            lm_eval_cfg=cfg.eval.get("lm_eval"),
            # Under several ranks M0's analysis gathers across them: a per-key file lock held by
            # one rank while the others wait would deadlock, so sharded runs compute it.
            original_cache_dir=None if shard is not None else original_cache.cache_dir_of(cfg),
        )

    def _analyse_original(
        self,
        model: torch.nn.Module,
        forget_sets: list[tuple[Task, list[Any]]],
        utility_sets: dict[str, tuple[Task, list[Any]]],
        retain_icl: Sequence[Any],
        cache_dir: Path | None,
    ) -> tuple[list[_ForgetGroup], dict[str, _UtilityGroup]]:
        """M0's groups, from the on-disk cache when a job with the same key computed them."""

        def compute() -> tuple[list[_ForgetGroup], dict[str, _UtilityGroup]]:
            forget = [self._forget_group(model, task, items) for task, items in forget_sets]
            utility = {n: self._utility_group(model, t, i) for n, (t, i) in utility_sets.items()}
            return forget, utility

        if cache_dir is None:
            return compute()
        key = original_cache.analysis_key(
            model,
            self._qa.ctx,
            retain_icl,
            [(t.kind, i) for t, i in forget_sets],
            [(n, i) for n, (_, i) in utility_sets.items()],
        )
        return original_cache.load_or_compute(
            cache_dir,
            key,
            compute,
            _encode_groups,
            partial(_decode_groups, forget_sets, utility_sets),
        )[0]

    def _keytokens(self, result: PromptContributions) -> list[int]:
        u = self.unpact
        return keytokens(result.contributions, u.alpha, u.beta, u.normalize)

    def _forget_group(self, model: torch.nn.Module, task: Task, items: list[Any]) -> _ForgetGroup:
        answers = task.answer(model, items)
        contributions = task.contributions(model, items, answers)
        keys = [self._keytokens(c) for c in contributions]
        return _ForgetGroup(task, items, answers, contributions, keys)

    def _utility_group(self, model: torch.nn.Module, task: Task, items: list[Any]) -> _UtilityGroup:
        answers = task.answer(model, items)
        known = [i for i, correct in enumerate(answers.correct) if correct]
        contributions = task.contributions(
            model, [items[i] for i in known], _subset(answers, known)
        )
        return _UtilityGroup(task, items, answers, known, contributions)

    def _original(self) -> dict[str, Any]:
        """M0's own scores, reported beside M1's as baselines."""
        metrics: dict[str, Any] = {}
        for group in self._forget:
            if group.task.kind == "qa":
                gold = group.task.gold(group.items)
                metrics["knowmem_forget_original"] = knowmem_score(
                    gold, group.answers.texts, stemming=self.eval.rouge_stemming
                )
        utility = rates.correct_counts(
            [c for g in self._utility.values() for c in g.answers.correct]
        )
        ignorance = rates.prompt_ignorance_counts(
            [c.contributions for g in self._utility.values() for c in g.contributions],
            self.unpact.ignore_eps,
        )
        metrics |= statistics.rate_entry("utility_original", *utility)
        return metrics | statistics.rate_entry("prompt_ignorance_original", *ignorance)

    def attack_names(self, final: bool) -> tuple[str, ...]:
        """The attacks to run at an evaluation step (``final``: also the final-only ones)."""
        if self.attacks is None:
            return ()
        return self.attacks.every_step + (self.attacks.final if final else ())

    def evaluate(self, model: torch.nn.Module, attacks: Sequence[str] = ()) -> EvaluationResult:
        """Measure the unlearned model ``model`` (M1) against the cached M0 analysis.

        The model's train/eval flags are restored afterwards and no gradients are
        computed. The same model evaluated twice gives identical metrics (greedy
        decoding; PROBAB reseeded from ``probab.seed`` on every call).

        Returns:
            An :class:`EvaluationResult` whose ``metrics`` hold (rates are NaN over an empty set):
            ``n_forget_questions``, ``n_known``, ``n_forgotten``, ``forget_rate``,
            ``recovery_rate`` (FocusOnKey), ``probab_recovery_rate``,
            ``keytoken_similarity`` and ``contribution_similarity`` (means over known
            forget items, M0 vs M1) and their split ``*_forgotten`` (over F) /
            ``*_retained`` (over known items M1 still answers; NaN over an empty group),
            ``focus_vs_probab_discordant`` ``[FocusOnKey only, PROBAB only]`` over F and
            its exact McNemar ``focus_vs_probab_mcnemar_p``, ``knowmem_forget`` and
            ``knowmem_retain`` (ROUGE-L F1 x 100 of M1), ``n_utility_items``,
            ``n_utility_known`` (|U|), ``utility`` (M1's correct rate on all utility items),
            ``destructive_rate``, ``prompt_ignorance`` (over U, under M1), the M0 baselines
            ``knowmem_forget_original``, ``utility_original`` and
            ``prompt_ignorance_original``, and ``mc_forget_acc`` / ``mc_retain_acc``
            when those items exist. Every rate ``r`` (forget, recovery, PROBAB recovery,
            destructive, utility, prompt ignorance, the accuracies and the M0 baselines)
            also has ``r_counts`` ``[k, n]`` and ``r_ci`` (95% Wilson, None when n = 0).
            For each attack in ``attacks`` (see :mod:`unpact_exp.attacks.recovery_attacks`)
            its rate with counts and interval, and its budget. Where the dataset has the
            splits, MUSE's ``verbmem_forget`` and ``privleak_auc`` (and ``privleak`` with
            ``privleak_auc_retrain`` when ``eval.retrain_model`` is set), each with its M0
            value ``*_original`` (:mod:`unpact_exp.metrics.muse`). For each task of
            ``eval.lm_eval.tasks``, lm-eval's accuracy ``lm_eval_<task>_acc`` and M0's
            ``lm_eval_<task>_acc_original``, with counts and intervals.
        """
        with analysis_mode(model), progress_mode(self.eval.progress, "M1"):
            metrics, rows, contributions = self._forget_metrics(model)
            metrics.update(self._utility_metrics(model))
            metrics.update(self._attack_metrics(model, rows, attacks))
            metrics.update(self._muse_metrics(model))
        metrics.update(lm_eval_metrics(model, self._tokenizer, self.lm_eval, ""))
        metrics.update(self._original_metrics)
        return EvaluationResult(metrics=metrics, rows=rows, unlearned_contributions=contributions)

    def _muse_metrics(self, model: torch.nn.Module) -> dict[str, float]:
        """MUSE's ``verbmem_forget`` / ``privleak_auc`` (``privleak``) of M1 and M0's values."""
        if self._muse is None:
            return {}
        return self._muse.measure(model) | self._muse.original

    def _recover(
        self,
        model: torch.nn.Module,
        group: _ForgetGroup,
        mask: Sequence[bool],
        unlearned_keys: Sequence[list[int]],
    ) -> tuple[list[tuple[bool | None, list[str]]], list[tuple[bool | None, list[str]]], list[str]]:
        """FocusOnKey and PROBAB on the forgotten items of ``group``, and the KeyTokens
        phrase FocusOnKey used per item (empty where it was not run)."""
        chosen = [i for i, m in enumerate(mask) if m]
        source = (
            group.keytokens if self.focus_on_key.keytokens_from == "original" else unlearned_keys
        )
        phrases = [keys_phrase(group.contributions[i].units, source[i]) for i in chosen]
        items = [group.items[i] for i in chosen]
        templates = self.focus_on_key.templates
        focus = group.task.focus(model, items, phrases, templates)
        sampled = group.task.sample(model, items, len(templates), self.probab)
        spread_phrases = iter(phrases)
        used = [next(spread_phrases) if m else "" for m in mask]
        return _spread(focus, mask), _spread(sampled, mask), used

    def _forget_metrics(
        self, model: torch.nn.Module
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[PromptContributions]]:
        m0_correct: list[bool] = []
        m1_correct: list[bool] = []
        forgotten: list[bool] = []
        focus_hits: list[bool] = []
        probab_hits: list[bool] = []
        sim_k: list[float] = []
        sim_c: list[float] = []
        sim_forgotten: list[bool] = []  # per known item: M1 forgot it (docs/science.md §3 split)
        rows: list[dict[str, Any]] = []
        contributions: list[PromptContributions] = []
        metrics: dict[str, Any] = {}
        for group in self._forget:
            answers = group.task.answer(model, group.items)
            c1 = group.task.contributions(model, group.items, answers)
            k1 = [self._keytokens(c) for c in c1]
            mask = rates.forgotten(group.answers.correct, answers.correct)
            focus, sampled, phrases = self._recover(model, group, mask, k1)
            templates = self.focus_on_key.templates
            gold = group.task.gold(group.items)
            for i, item in enumerate(group.items):
                c0, k0 = group.contributions[i], group.keytokens[i]
                ks = keytoken_similarity(k0, k1[i])
                cs = contribution_similarity(c0.contributions, c1[i].contributions)
                if group.answers.correct[i]:
                    sim_k.append(ks)
                    sim_c.append(cs)
                    sim_forgotten.append(mask[i])
                rows.append(
                    {
                        "kind": group.task.kind,
                        "index": i,
                        "question": item.question,
                        "gold": gold[i],
                        "original_answer": group.answers.texts[i],
                        "unlearned_answer": answers.texts[i],
                        "known": group.answers.correct[i],
                        "forgotten": mask[i],
                        "keytokens_original": [c0.units[k] for k in k0],
                        "keytokens_unlearned": [c1[i].units[k] for k in k1[i]],
                        "keytoken_similarity": ks,
                        "contribution_similarity": cs,
                        "focus_keys": phrases[i],
                        "focus_prompts": (
                            focus_questions(item.question, phrases[i], templates)
                            if phrases[i]
                            else []
                        ),
                        "recovered_focus": focus[i][0],
                        "recovered_probab": sampled[i][0],
                        "focus_answers": focus[i][1],
                        "probab_answers": sampled[i][1],
                        # Stored so thresholds can be re-tuned later (threshold_grid.py).
                        "units": list(c0.units),
                        "contributions_original": list(c0.contributions),
                        "contributions_unlearned": list(c1[i].contributions),
                    }
                )
            m0_correct += group.answers.correct
            m1_correct += answers.correct
            forgotten += mask
            focus_hits += [bool(hit) for hit, _ in focus]
            probab_hits += [bool(hit) for hit, _ in sampled]
            contributions += c1
            if group.task.kind == "qa":
                metrics["knowmem_forget"] = knowmem_score(
                    gold, answers.texts, stemming=self.eval.rouge_stemming
                )
            elif group.items:
                metrics |= statistics.rate_entry(
                    "mc_forget_acc", *rates.correct_counts(answers.correct)
                )
        metrics.update(
            {
                "n_forget_questions": float(len(m0_correct)),
                "n_known": float(sum(m0_correct)),
                "n_forgotten": float(sum(forgotten)),
            }
        )
        metrics |= statistics.rate_entry(
            "forget_rate", *rates.forget_counts(m0_correct, m1_correct)
        )
        metrics |= statistics.rate_entry(
            "recovery_rate", *rates.recovery_counts(forgotten, focus_hits)
        )
        metrics |= statistics.rate_entry(
            "probab_recovery_rate", *rates.recovery_counts(forgotten, probab_hits)
        )
        metrics |= _paired_test(focus_hits, probab_hits, forgotten)
        metrics |= _split_means("keytoken_similarity", sim_k, sim_forgotten)
        metrics |= _split_means("contribution_similarity", sim_c, sim_forgotten)
        return metrics, rows, contributions

    def _utility_metrics(self, model: torch.nn.Module) -> dict[str, Any]:
        m0_correct: list[bool] = []
        m1_correct: list[bool] = []
        ignorance: list[list[float]] = []
        m1_answers: dict[str, Answers] = {}
        for name, group in self._utility.items():
            answers = group.task.answer(model, group.items)
            known_items = [group.items[i] for i in group.known]
            c1 = group.task.contributions(model, known_items, _subset(answers, group.known))
            ignorance += [list(c.contributions) for c in c1]
            m0_correct += group.answers.correct
            m1_correct += answers.correct
            m1_answers[name] = answers
        metrics: dict[str, Any] = {
            "n_utility_items": float(len(m0_correct)),
            "n_utility_known": float(sum(m0_correct)),
        }
        metrics |= statistics.rate_entry("utility", *rates.correct_counts(m1_correct))
        metrics |= statistics.rate_entry(
            "destructive_rate", *rates.destructive_counts(m0_correct, m1_correct)
        )
        metrics |= statistics.rate_entry(
            "prompt_ignorance",
            *rates.prompt_ignorance_counts(ignorance, self.unpact.ignore_eps),
        )
        retain_qa = self._utility.get("retain_qa")
        if retain_qa is not None and retain_qa.items:
            gold = retain_qa.task.gold(retain_qa.items)
            metrics["knowmem_retain"] = knowmem_score(
                gold, m1_answers["retain_qa"].texts, stemming=self.eval.rouge_stemming
            )
        if "mc_retain" in self._utility and self._utility["mc_retain"].items:
            counts = rates.correct_counts(m1_answers["mc_retain"].correct)
            metrics |= statistics.rate_entry("mc_retain_acc", *counts)
        for name, items in self._accuracy_only.items():
            counts = rates.correct_counts(self._mc.answer(model, items).correct)
            metrics |= statistics.rate_entry(f"{name}_acc", *counts)
        return metrics

    def _attack_metrics(
        self, model: torch.nn.Module, rows: list[dict[str, Any]], names: Sequence[str]
    ) -> dict[str, Any]:
        """Run the named attacks on the forgotten free-form questions; add them to ``rows``."""
        if not names:
            return {}
        if self.attacks is None:
            raise UnpactConfigError(f"attacks {list(names)} asked for, but no attacks config given")
        group = next((g for g in self._forget if g.task.kind == "qa"), None)
        metrics: dict[str, Any] = {}
        for name in names:
            result = self._attack(model, group, rows, name) if group is not None else None
            hits, total = (0, 0) if result is None else result.counts
            metrics.update(statistics.rate_entry(ATTACK_RATES[name], hits, total))
            for key, value in ({} if result is None else result.budget).items():
                metrics[f"{name}_budget_{key}"] = value
        return metrics

    def _attack(
        self, model: torch.nn.Module, group: _ForgetGroup, rows: list[dict[str, Any]], name: str
    ) -> AttackResult:
        ctx, cfg = self._qa.ctx, self.attacks
        assert cfg is not None
        if name == "focus_on_key_control":
            never = [i for i, known in enumerate(group.answers.correct) if not known]
            items = [group.items[i] for i in never]
            phrases = [keys_phrase(group.contributions[i].units, group.keytokens[i]) for i in never]
            focus = group.task.focus(model, items, phrases, self.focus_on_key.templates)
            result = AttackResult(
                attacked=[True] * len(items),
                recovered=list(focus.recovered),
                answers=list(focus.answers),
                budget={"prompts_per_question": float(len(self.focus_on_key.templates))},
            )
            self._annotate(rows, never, name, result)
            return result
        forgotten = [r["index"] for r in rows if r["kind"] == "qa" and r["forgotten"]]
        items = [group.items[i] for i in forgotten]
        if name == "paraphrase":
            result = paraphrase_attack(
                model, ctx.tokenizer, ctx.prompt_format, items, ctx.icl, cfg, self.eval
            )
        elif name == "icl":
            retain = self._utility.get("retain_qa")
            known = [] if retain is None else [retain.items[i] for i in retain.known]
            demos = known[: cfg.icl_k]
            result = icl_attack(model, ctx.tokenizer, ctx.prompt_format, items, demos, self.eval)
        else:
            result = relearn_attack(
                model, ctx.tokenizer, ctx.prompt_format, items, ctx.icl, cfg, self.eval
            )
        self._annotate(rows, forgotten, name, result)
        return result

    @staticmethod
    def _annotate(
        rows: list[dict[str, Any]], indices: Sequence[int], name: str, result: AttackResult
    ) -> None:
        """Per-question outcome of an attack on the free-form rows (None where not attacked)."""
        by_index = {r["index"]: r for r in rows if r["kind"] == "qa"}
        for i, attacked, hit, tried in zip(
            indices, result.attacked, result.recovered, result.answers
        ):
            by_index[i][f"recovered_{name}"] = hit if attacked else None
            by_index[i][f"{name}_answers"] = tried

    def contribution_matrix(
        self, result: EvaluationResult, max_questions: int
    ) -> list[ContributionHeatmap]:
        """Heatmap data (units x {M0, M1}) for up to ``max_questions`` forget items.

        Forgotten items come first (they show the focus shift), then the other items,
        each in benchmark order, so the selection is deterministic.

        Args:
            result: what :meth:`evaluate` returned for the M1 of interest.
            max_questions: how many items to return.
        """
        originals = [c for g in self._forget for c in g.contributions]
        order = sorted(range(len(result.rows)), key=lambda i: not result.rows[i]["forgotten"])
        return [
            ContributionHeatmap(
                question=result.rows[i]["question"],
                units=originals[i].units,
                original=originals[i].contributions,
                unlearned=result.unlearned_contributions[i].contributions,
                forgotten=bool(result.rows[i]["forgotten"]),
            )
            for i in order[:max_questions]
        ]
