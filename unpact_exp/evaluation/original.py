"""The original model's side of an evaluation: which items are measured, and M0 on them.

Everything here depends only on M0, so it is computed once per run (or read from the M0
cache, :mod:`unpact_exp.evaluation.original_cache`) and every unlearned model is measured
against it: M0's answers, correctness, UNPACT contributions and KeyTokens on the forget
items, and its answers and contributions on the utility items it knows (U).

Items: forget items are ``forget_qa`` (free-form) plus ``mc_forget`` (multiple choice),
each capped to its first ``eval.max_forget_questions``. Utility items are, as
docs/science.md §5 says, the retain-set questions plus the general items: ``retain_qa``,
``mc_retain``, ``utility_qa`` and ``utility_mc``, each capped to its first
``eval.max_utility_items``. Which kinds feed the rates is ``eval.rate_items``
(:func:`rate_kinds`); the other multiple-choice lists only get an accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.evaluation import original_cache
from unpact_exp.evaluation.config import EvalConfig, take_first
from unpact_exp.evaluation.labels import ask_labels
from unpact_exp.evaluation.likelihood import gold_outranks, has_distractors
from unpact_exp.evaluation.sharding import Shard, ShardedTask
from unpact_exp.evaluation.tasks import Answers, MCTask, QATask, Task, TaskContext
from unpact_exp.unpact.contributions import PromptContributions
from unpact_exp.unpact.keytokens import select_keytokens
from unpact_exp.unpact.progress import scope

FORGET_SETS = {"qa": "forget_qa", "mc": "mc_forget"}
"""The item set of each forget kind, as progress and the item lists name it."""


def forget_set(task: Task) -> str:
    """The name of the forget items ``task`` asks (``forget_qa`` or ``mc_forget``)."""
    return FORGET_SETS.get(task.kind, f"forget_{task.kind}")


@dataclass(frozen=True)
class ForgetGroup:
    """Forget items of one kind with M0's answers, contributions and KeyTokens on each.

    Attributes:
        asks_correct: per item, M0 right on each neutral ask (the plain prompt first;
            :mod:`unpact_exp.evaluation.labels`).
        ask_answers: per item, M0's answers to the neutral rewordings.
        likely: per item, M0 ranks the gold above every distractor (False without
            distractors; :mod:`unpact_exp.evaluation.likelihood`).
    """

    task: Task
    items: list[Any]
    answers: Answers
    contributions: list[PromptContributions]
    keytokens: list[list[int]]
    asks_correct: list[list[bool]]
    ask_answers: list[list[str]]
    likely: list[bool]


@dataclass(frozen=True)
class UtilityGroup:
    """Utility items of one kind; ``known`` indexes U (the items M0 answers correctly)."""

    task: Task
    items: list[Any]
    answers: Answers
    known: list[int]
    contributions: list[PromptContributions]


@dataclass(frozen=True)
class ItemSets:
    """What an evaluation measures, before any model has seen it.

    Attributes:
        forget: ``(task, items)`` per forget kind that feeds the rates.
        utility: name -> ``(task, items)`` per utility list that feeds the rates.
        accuracy_only: name -> items of the multiple-choice lists outside the rates, which
            only get an accuracy (``mc_forget_acc`` / ``mc_retain_acc``).
        mc: the multiple-choice task (scores ``accuracy_only``).
        retain_icl: the in-context examples of retain and utility prompts.
    """

    forget: list[tuple[Task, list[Any]]]
    utility: dict[str, tuple[Task, list[Any]]]
    accuracy_only: dict[str, list[Any]]
    mc: Task
    retain_icl: tuple[Any, ...]


def rate_kinds(rate_items: str, benchmark: Benchmark) -> set[str]:
    """Which item kinds feed the pooled rates (``eval.rate_items``).

    ``auto`` takes the free-form items when the dataset has free-form forget
    questions (MUSE, synthetic) and the multiple-choice ones otherwise (WMDP), as
    the paper measures each benchmark; the other kinds then only get an accuracy.
    """
    if rate_items == "both":
        return {"qa", "mc"}
    if rate_items == "auto":
        return {"qa"} if benchmark.forget_qa else {"mc"}
    return {rate_items}


def item_sets(ctx: TaskContext, benchmark: Benchmark, shard: Shard | None) -> ItemSets:
    """The items of ``benchmark`` an evaluation measures, each with the task that asks it.

    Retain and utility questions get the retain in-context examples (MUSE's knowmem_r).
    Under several ranks (``shard``) every task is sharded.
    """
    qa: Task = QATask(ctx)
    mc: Task = MCTask(ctx)
    retain_qa: Task = QATask(replace(ctx, icl=tuple(benchmark.retain_icl)))
    if shard is not None:
        qa, mc, retain_qa = (ShardedTask(t, shard) for t in (qa, mc, retain_qa))
    cfg: EvalConfig = ctx.eval
    forget_cap, utility_cap = cfg.max_forget_questions, cfg.max_utility_items
    kinds = rate_kinds(cfg.rate_items, benchmark)
    forget = (
        ("forget_qa", qa, benchmark.forget_qa),
        ("mc_forget", mc, benchmark.mc_forget),
    )
    utility = (
        ("retain_qa", retain_qa, benchmark.retain_qa),
        ("mc_retain", mc, benchmark.mc_retain),
        ("utility_qa", retain_qa, benchmark.utility_qa),
        ("utility_mc", mc, benchmark.utility_mc),
    )
    accuracy_only = {
        name: take_first(items, forget_cap if name == "mc_forget" else utility_cap)
        for name, task, items in (forget[1], utility[1])
        if task.kind not in kinds and items
    }
    return ItemSets(
        forget=[(t, take_first(i, forget_cap)) for _, t, i in forget if t.kind in kinds],
        utility={n: (t, take_first(i, utility_cap)) for n, t, i in utility if t.kind in kinds},
        accuracy_only=accuracy_only,
        mc=mc,
        retain_icl=tuple(benchmark.retain_icl),
    )


def forget_group(model: torch.nn.Module, task: Task, items: list[Any]) -> ForgetGroup:
    """M0's answers (to every neutral ask), contributions, KeyTokens and likelihood labels."""
    answers = task.answer(model, items)
    contributions = task.contributions(model, items, answers)
    keys = [select_keytokens(c.contributions, task.ctx.unpact) for c in contributions]
    asks, ask_answers = ask_labels(model, task, items, answers, task.ctx.eval.labels)
    likely = (
        gold_outranks(model, task.ctx, items) if has_distractors(items) else [False] * len(items)
    )
    return ForgetGroup(task, items, answers, contributions, keys, asks, ask_answers, likely)


def utility_group(model: torch.nn.Module, task: Task, items: list[Any]) -> UtilityGroup:
    """M0's answers on utility items, and its contributions on those it knows."""
    answers = task.answer(model, items)
    known = [i for i, correct in enumerate(answers.correct) if correct]
    contributions = task.contributions(model, [items[i] for i in known], answers.subset(known))
    return UtilityGroup(task, items, answers, known, contributions)


Groups = tuple[list[ForgetGroup], dict[str, UtilityGroup]]


def analyse_original(
    model: torch.nn.Module, ctx: TaskContext, sets: ItemSets, cache_dir: Path | None
) -> Groups:
    """M0's groups, from the on-disk cache when a job with the same key computed them.

    Under several ranks the analysis gathers across them; a per-key file lock held by one
    rank while the others wait would deadlock, so the caller passes no cache then.
    """

    def compute() -> Groups:
        forget = []
        for task, items in sets.forget:
            with scope(forget_set(task), len(items)):
                forget.append(forget_group(model, task, items))
        utility = {}
        for name, (task, items) in sets.utility.items():
            with scope(name, len(items)):
                utility[name] = utility_group(model, task, items)
        return forget, utility

    if cache_dir is None:
        return compute()
    key = original_cache.analysis_key(
        model,
        ctx,
        sets.retain_icl,
        [(t.kind, i) for t, i in sets.forget],
        [(n, i) for n, (_, i) in sets.utility.items()],
    )
    return original_cache.load_or_compute(
        cache_dir, key, compute, _encode, lambda payload: _decode(sets, payload)
    )[0]


def _encode(groups: Groups) -> dict[str, Any]:
    """M0's groups as JSON values for :mod:`unpact_exp.evaluation.original_cache`."""
    forget, utility = groups
    return {
        "forget": [
            original_cache.forget_to_json(
                g.answers, g.contributions, g.keytokens, g.asks_correct, g.ask_answers, g.likely
            )
            for g in forget
        ],
        "utility": {
            n: original_cache.utility_to_json(g.answers, g.known, g.contributions)
            for n, g in utility.items()
        },
    }


def _decode(sets: ItemSets, payload: dict[str, Any]) -> Groups:
    """Inverse of :func:`_encode` for these items (ValueError when they do not fit)."""
    if len(payload["forget"]) != len(sets.forget) or set(payload["utility"]) != set(sets.utility):
        raise ValueError("the entry's groups differ from this run's")
    forget = [
        ForgetGroup(task, items, *original_cache.forget_from_json(data, len(items)))
        for (task, items), data in zip(sets.forget, payload["forget"])
    ]
    utility = {
        n: UtilityGroup(t, i, *original_cache.utility_from_json(payload["utility"][n], len(i)))
        for n, (t, i) in sets.utility.items()
    }
    return forget, utility


def original_answered(forget: Sequence[ForgetGroup]) -> tuple[list[str], list[str]]:
    """Gold answers and M0's answers of the free-form forget questions."""
    for group in forget:
        if group.task.kind == "qa":
            return group.task.gold(group.items), list(group.answers.texts)
    return [], []
