"""The evaluation: an unlearned model M1 measured against the original model M0.

An :class:`Evaluator` is built once per run with M0 (:mod:`unpact_exp.evaluation.original`
computes or reads its side) and keeps no reference to M0 afterwards. ``evaluate(M1)`` then
measures an unlearned model against it (docs/science.md §2-5):

- forgetting: M1's answers on the forget items, ``forget_rate`` over the known ones, the
  focus shift (KeyToken and contribution similarity, split by outcome, §3/§8);
- utility: ``utility``, ``destructive_rate`` and ``prompt_ignorance`` over U;
- the attacks due at this step (:mod:`unpact_exp.attacks`, handed in by the stage), each
  on its population of questions, with counts, interval, per-attempt rate and budget, and
  FocusOnKey compared with every same-budget control on the same questions
  (:mod:`unpact_exp.evaluation.comparisons`);
- the metrics due at this step (:mod:`unpact_exp.metrics`).

It is used by the training callback (at every evaluation step) and by ``eval.py``, so it
never imports Lightning. Every rate travels with its counts and 95% Wilson interval
(``<rate>_counts: [k, n]``, ``<rate>_ci``; docs/science.md §9); rates over an empty set are
NaN (:mod:`unpact_exp.evaluation.rates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.evaluation import comparisons, labels, rates, statistics
from unpact_exp.evaluation.attacking import (
    Attack,
    AttackContext,
    Target,
    check_outcomes,
    phrases_of,
)
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.evaluation.likelihood import gold_outranks, has_distractors
from unpact_exp.evaluation.measuring import Answered, MetricContext
from unpact_exp.evaluation.original import (
    ForgetGroup,
    analyse_original,
    forget_set,
    item_sets,
    original_answered,
)
from unpact_exp.evaluation.rows import AttackCell, QuestionRow, declared_columns, table_columns
from unpact_exp.evaluation.schedule import Schedule
from unpact_exp.evaluation.sharding import Shard
from unpact_exp.evaluation.tasks import Answers, TaskContext
from unpact_exp.judge.strict import gold_in_question
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import is_number
from unpact_exp.unpact.config import UnpactConfig
from unpact_exp.unpact.contributions import PromptContributions
from unpact_exp.unpact.inference import analysis_mode
from unpact_exp.unpact.keytokens import (
    contribution_similarity,
    keytoken_similarity,
    select_keytokens,
)
from unpact_exp.unpact.progress import progress_mode, scope


@dataclass
class EvaluationResult:
    """What :meth:`Evaluator.evaluate` returns.

    Attributes:
        metrics: scalar metrics, and per rate its ``_counts`` ``[k, n]`` and ``_ci``
            ``[low, high]`` (see :meth:`Evaluator.evaluate` for the keys).
        rows: one row per forget item, free-form items first.
        attack_columns: the per-question columns of every attack the run schedules (the
            table's columns at every step, :func:`~unpact_exp.evaluation.rows.table_columns`).
    """

    metrics: dict[str, Any]
    rows: list[QuestionRow] = field(repr=False)
    attack_columns: list[str] = field(default_factory=list)

    def scalars(self) -> dict[str, float]:
        """The numeric metrics (counts and intervals are lists, an interval over nothing is
        None; loggers get those as numbers too: ``evaluation.writing.logged_values``)."""
        return {k: v for k, v in self.metrics.items() if is_number(v)}

    def table_columns(self) -> list[str]:
        """The per-question table's columns: the row's own, then every scheduled attack's."""
        return table_columns(self.rows, self.attack_columns)

    def records(self) -> list[dict[str, Any]]:
        """The rows as flat JSON values (``questions.jsonl``)."""
        return [row.record() for row in self.rows]


@dataclass
class _Forgetting:
    """M1 on the forget items, per group, with what the attacks and the metrics need."""

    rows: list[QuestionRow]
    metrics: dict[str, Any]
    answers: list[Answers]
    keytokens: list[list[list[int]]]
    forgotten: list[list[bool]]
    likely: list[list[bool]] = field(default_factory=list)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _split_means(name: str, values: list[float], forgotten: list[bool]) -> dict[str, float]:
    """The overall mean of a similarity over the known items and its split by outcome.

    ``name`` is the mean over all known items (in item order), ``name_forgotten`` over those
    M1 forgot, ``name_retained`` over those it still answers (NaN for an empty group), so
    that ``n_F * forgotten + n_R * retained == n * overall``.
    """
    return {
        name: _mean(values),
        f"{name}_forgotten": _mean([v for v, f in zip(values, forgotten) if f]),
        f"{name}_retained": _mean([v for v, f in zip(values, forgotten) if not f]),
    }


class Evaluator:
    """Measures unlearned models against an original model M0 (docs/science.md §2-5).

    Args:
        model: the original model M0; used only inside the constructor, not kept.
        tokenizer: the tokenizer shared by M0 and every M1.
        prompt_format: how questions are rendered for this model.
        benchmark: the dataset (forget, retain and utility items, ICL examples).
        unpact: the ``unpact`` settings.
        eval_cfg: the ``eval`` settings.
        attacks: the attacks of each evaluation step (from :mod:`unpact_exp.attacks`).
        metrics: the metrics of each evaluation step (from :mod:`unpact_exp.metrics`); those
            whose data the benchmark lacks are skipped.
        focus_templates: FocusOnKey's templates; their number is the budget PROBAB and the
            controls spend, and the likelihood recovery asks them.
        seed: the run seed.
        shard: under several ranks, this rank's share of the items; None: one process.
        cache_dir: where M0's analysis is cached across jobs; None: always computed.
        dtype: ``model.dtype``, for a model a metric loads (PrivLeak's retrain model).
        trust_remote_code: ``model.trust_remote_code``, likewise.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        prompt_format: PromptFormat,
        benchmark: Benchmark,
        unpact: UnpactConfig,
        eval_cfg: EvalConfig,
        attacks: Schedule,
        metrics: Schedule,
        focus_templates: tuple[str, ...],
        seed: int,
        shard: Shard | None = None,
        cache_dir: Path | None = None,
        dtype: str = "float32",
        trust_remote_code: bool = False,
    ) -> None:
        self.unpact, self.eval = unpact, eval_cfg
        self.attacks = attacks
        self.metrics = metrics.only(lambda m: m.applies(benchmark))
        self.ctx = TaskContext(tokenizer, prompt_format, tuple(benchmark.icl), unpact, eval_cfg)
        self.sets = item_sets(self.ctx, benchmark, shard)
        self.metric_ctx = MetricContext(
            tokenizer, prompt_format, benchmark, eval_cfg, dtype, trust_remote_code
        )
        with analysis_mode(model), progress_mode(eval_cfg.progress, "M0"):
            self._forget, self._utility = analyse_original(
                model, self.ctx, self.sets, None if shard is not None else cache_dir
            )
            self._original_metrics = self._original()
            gold, answers = original_answered(self._forget)
            answered = Answered(gold, answers, [], [])
            for metric in self.metrics.all():
                with scope(_name(metric)):
                    self._original_metrics |= metric.prepare(model, self.metric_ctx, answered)
            self._labels = [self._group_labels(g) for g in self._forget]
            retain = self._utility.get("retain_qa")
            known = [] if retain is None else [retain.items[i] for i in retain.known]
            self.focus_templates = focus_templates
            self.attack_ctx = AttackContext(
                len(focus_templates),
                tuple(known),
                seed,
                focus_templates,
                eval_cfg.labels.spare_templates(),
            )
            for attack in self.attacks.all():
                attack.check(self.attack_ctx)
            self._on_original = self._attack_original(model)

    def _group_labels(self, group: ForgetGroup) -> labels.Labels:
        """M0's labels of one forget group; the strict judge flags gold-in-question items."""
        flags = [
            self.ctx.judge.flags_gold_in_question
            and isinstance(item, QAItem)
            and gold_in_question(item.question, item.answer, item.aliases)
            for item in group.items
        ]
        return labels.original_labels(group.asks_correct, self.eval.labels.known, flags)

    def _attack_original(
        self, model: torch.nn.Module
    ) -> dict[str, tuple[Attack, comparisons.Outcomes, dict[str, Any]]]:
        """The attacks made on M0 (once): their outcomes and metrics, reported at every step."""
        done: dict[str, tuple[Attack, comparisons.Outcomes, dict[str, Any]]] = {}
        for attack in self.attacks.all():
            if attack.runs_on != "original":
                continue
            never = [lab.never_known for lab in self._labels]
            keys = [g.keytokens for g in self._forget]
            metrics: dict[str, Any] = {}
            outcomes = self._run_attack(model, attack, never, keys, metrics)
            done[attack.name] = (attack, outcomes, metrics)
        return done

    def has_final_only(self) -> bool:
        """Whether the final evaluation runs something the others do not."""
        return bool(self.attacks.final or self.metrics.final)

    def evaluate(self, model: torch.nn.Module, final: bool = True) -> EvaluationResult:
        """Measure the unlearned model ``model`` (M1) against M0.

        The model's train/eval flags are restored afterwards and no gradients are
        computed. The same model evaluated twice gives identical metrics (greedy
        decoding; sampling reseeded on every call).

        Args:
            model: M1.
            final: the last evaluation of the run: the final-only attacks and metrics run too.

        Returns:
            An :class:`EvaluationResult` whose ``metrics`` hold (rates are NaN over an empty
            set): ``n_forget_questions``, ``n_known``, ``n_forgotten``, ``forget_rate``,
            ``keytoken_similarity`` and ``contribution_similarity`` (means over known forget
            items, M0 vs M1) and their split ``*_forgotten`` / ``*_retained``,
            ``n_utility_items``, ``n_utility_known`` (|U|), ``utility`` (M1's correct rate on
            all utility items), ``destructive_rate``, ``prompt_ignorance`` (over U, under
            M1), the M0 baselines ``utility_original`` and ``prompt_ignorance_original``,
            ``mc_forget_acc`` / ``mc_retain_acc`` when those items exist; per attack its
            rate (its declared key), ``<rate>_per_attempt`` and its budget
            (``<attack>_budget_<what>``); FocusOnKey against each same-budget control
            (:mod:`unpact_exp.evaluation.comparisons`); and each metric's keys. Every rate
            ``r`` also has ``r_counts`` ``[k, n]`` and ``r_ci`` (95% Wilson, None when n = 0).
        """
        with analysis_mode(model), progress_mode(self.eval.progress, "M1"):
            forgetting = self._forgetting(model)
            metrics = dict(forgetting.metrics)
            utility_metrics, retain_answers = self._utility_metrics(model)
            metrics |= utility_metrics
            outcomes = self._attack(model, forgetting, self.attacks.due(final), metrics)
            metrics |= comparisons.focus_on_key_against_controls(outcomes)
            answered = self._answered(forgetting, retain_answers)
            for metric in self.metrics.due(final):
                with scope(_name(metric)):
                    metrics |= metric.measure(model, self.metric_ctx, answered)
        metrics |= self._original_metrics
        columns = declared_columns(self.attacks.all())
        return EvaluationResult(metrics=metrics, rows=forgetting.rows, attack_columns=columns)

    def _forgetting(self, model: torch.nn.Module) -> _Forgetting:
        known_all: list[bool] = []
        forgotten_all: list[bool] = []
        unstable = flagged = labelled = 0
        never_right: list[bool] = []  # M1's plain answer, on the questions M0 never knew
        sim_k: list[float] = []
        sim_c: list[float] = []
        sim_forgotten: list[bool] = []  # per known item: M1 forgot it (docs/science.md §8)
        likely: list[tuple[ForgetGroup, list[bool]]] = []  # per group with distractors: M1's
        result = _Forgetting([], {}, [], [], [])
        for group, lab in zip(self._forget, self._labels):
            with scope(forget_set(group.task), len(group.items)):
                answers = group.task.answer(model, group.items)
                c1 = group.task.contributions(model, group.items, answers)
                k1 = [select_keytokens(c.contributions, self.unpact) for c in c1]
                asks, _ = labels.ask_labels(
                    model, group.task, group.items, answers, self.eval.labels
                )
                mask = labels.forgotten(lab.known, asks)
                with_distractors = has_distractors(group.items)
                m1_likely = (
                    gold_outranks(model, self.ctx, group.items)
                    if with_distractors
                    else [False] * len(group.items)
                )
            result.rows += self._rows(group, lab, answers, c1, k1, mask, asks, m1_likely)
            for i in range(len(group.items)):
                if lab.known[i]:
                    sim_k.append(result.rows[-len(group.items) + i].keytoken_similarity)
                    sim_c.append(result.rows[-len(group.items) + i].contribution_similarity)
                    sim_forgotten.append(mask[i])
                if lab.never_known[i]:
                    never_right.append(answers.correct[i])
            known_all += lab.known
            forgotten_all += mask
            unstable += sum(lab.unstable)
            flagged += sum(lab.flagged)
            labelled += len(group.items) - sum(lab.flagged)
            if with_distractors:
                likely.append((group, m1_likely))
            result.answers.append(answers)
            result.keytokens.append(k1)
            result.forgotten.append(mask)
            result.likely.append(m1_likely)
            if group.task.kind == "mc" and group.items:
                counts = rates.correct_counts(answers.correct)
                result.metrics |= statistics.rate_entry("mc_forget_acc", *counts)
        result.metrics |= {
            "n_forget_questions": float(len(known_all)),
            "n_known": float(sum(known_all)),
            "n_forgotten": float(sum(forgotten_all)),
            "gold_in_question": float(flagged),
        }
        result.metrics |= statistics.rate_entry("forget_rate", sum(forgotten_all), sum(known_all))
        result.metrics |= statistics.rate_entry("unstable_known", unstable, labelled)
        result.metrics |= statistics.rate_entry(
            "m1_never_known_accuracy", sum(never_right), len(never_right)
        )
        result.metrics |= _split_means("keytoken_similarity", sim_k, sim_forgotten)
        result.metrics |= _split_means("contribution_similarity", sim_c, sim_forgotten)
        if likely:
            result.metrics |= self._likelihood(model, likely)
        return result

    def _likelihood(
        self, model: torch.nn.Module, likely: list[tuple[ForgetGroup, list[bool]]]
    ) -> dict[str, Any]:
        """The likelihood labels (docs/science.md §5), pooled over the groups with
        distractors: ``mc_known``, ``mc_forget_rate`` and ``mc_recovery_rate`` (the gold
        outranks again under FocusOnKey's prompts, M0's KeyTokens). Each group's M0 labels,
        KeyTokens and items stay together, however many groups carry distractors."""
        known = lost = recovered = 0
        for group, m1_likely in likely:
            chosen = [i for i, (a, b) in enumerate(zip(group.likely, m1_likely)) if a and not b]
            known += sum(group.likely)
            lost += len(chosen)
            with scope("focus_on_key"), scope(forget_set(group.task), len(chosen)):
                recovered += sum(self._outranks_under_focus(model, group, chosen))
        metrics = {"mc_known": float(known)}
        metrics |= statistics.rate_entry("mc_forget_rate", lost, known)
        return metrics | statistics.rate_entry("mc_recovery_rate", recovered, lost)

    def _outranks_under_focus(
        self, model: torch.nn.Module, group: ForgetGroup, chosen: list[int]
    ) -> list[bool]:
        """Per chosen item of ``group``: the gold outranks every distractor under any
        FocusOnKey template (an item without KeyTokens is not asked: False)."""
        if not chosen:
            return []
        items = [group.items[i] for i in chosen]
        phrases = phrases_of(
            [group.contributions[i].units for i in chosen], [group.keytokens[i] for i in chosen]
        )
        questions = [
            [t.format(keys=p, question=item.question) for t in self.focus_templates] if p else []
            for item, p in zip(items, phrases)
        ]
        return gold_outranks(model, self.ctx, items, questions)

    @staticmethod
    def _rows(
        group: ForgetGroup,
        lab: labels.Labels,
        answers: Answers,
        c1: list[PromptContributions],
        k1: list[list[int]],
        mask: list[bool],
        m1_asks: list[list[bool]],
        m1_likely: list[bool],
    ) -> list[QuestionRow]:
        gold = group.task.gold(group.items)
        rows = []
        for i, item in enumerate(group.items):
            c0, k0 = group.contributions[i], group.keytokens[i]
            rows.append(
                QuestionRow(
                    kind=group.task.kind,
                    index=i,
                    question=item.question,
                    gold=gold[i],
                    original_answer=group.answers.texts[i],
                    unlearned_answer=answers.texts[i],
                    known=lab.known[i],
                    forgotten=mask[i],
                    keytokens_original=[c0.units[k] for k in k0],
                    keytokens_unlearned=[c1[i].units[k] for k in k1[i]],
                    keytoken_similarity=keytoken_similarity(k0, k1[i]),
                    contribution_similarity=contribution_similarity(
                        c0.contributions, c1[i].contributions
                    ),
                    units=list(c0.units),
                    contributions_original=list(c0.contributions),
                    contributions_unlearned=list(c1[i].contributions),
                    original_right_asks=sum(group.asks_correct[i]),
                    unlearned_right_asks=sum(m1_asks[i]),
                    unstable=lab.unstable[i],
                    gold_in_question=lab.flagged[i],
                    likely_original=group.likely[i],
                    likely_unlearned=m1_likely[i],
                )
            )
        return rows

    def _utility_metrics(self, model: torch.nn.Module) -> tuple[dict[str, Any], list[str]]:
        """Utility, destruction and prompt ignorance over U, and M1's retain answers."""
        m0_correct: list[bool] = []
        m1_correct: list[bool] = []
        ignorance: list[list[float]] = []
        m1_answers: dict[str, Answers] = {}
        for name, group in self._utility.items():
            with scope(name, len(group.items)):
                answers = group.task.answer(model, group.items)
                known_items = [group.items[i] for i in group.known]
                c1 = group.task.contributions(model, known_items, answers.subset(group.known))
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
        if "mc_retain" in self._utility and self._utility["mc_retain"].items:
            counts = rates.correct_counts(m1_answers["mc_retain"].correct)
            metrics |= statistics.rate_entry("mc_retain_acc", *counts)
        for name, items in self.sets.accuracy_only.items():
            with scope(name, len(items)):
                counts = rates.correct_counts(self.sets.mc.answer(model, items).correct)
            metrics |= statistics.rate_entry(f"{name}_acc", *counts)
        retain = self._utility.get("retain_qa")
        texts = list(m1_answers["retain_qa"].texts) if retain is not None else []
        return metrics, texts

    def _answered(self, forgetting: _Forgetting, retain_answers: list[str]) -> Answered:
        """M1's free-form answers, for the metrics that score them."""
        forget_gold: list[str] = []
        forget_answers: list[str] = []
        for group, answers in zip(self._forget, forgetting.answers):
            if group.task.kind == "qa":
                forget_gold, forget_answers = group.task.gold(group.items), list(answers.texts)
                break
        retain = self._utility.get("retain_qa")
        retain_gold = retain.task.gold(retain.items) if retain is not None else []
        return Answered(forget_gold, forget_answers, retain_gold, retain_answers)

    def _original(self) -> dict[str, Any]:
        """M0's own scores, reported beside M1's as baselines."""
        utility = rates.correct_counts(
            [c for g in self._utility.values() for c in g.answers.correct]
        )
        ignorance = rates.prompt_ignorance_counts(
            [c.contributions for g in self._utility.values() for c in g.contributions],
            self.unpact.ignore_eps,
        )
        metrics = statistics.rate_entry("utility_original", *utility)
        return metrics | statistics.rate_entry("prompt_ignorance_original", *ignorance)

    def _attack(
        self,
        model: torch.nn.Module,
        forgetting: _Forgetting,
        attacks: Sequence[Attack],
        metrics: dict[str, Any],
    ) -> dict[str, tuple[Attack, comparisons.Outcomes]]:
        """Run each attack on its questions; add its rate, budget and cells to the rows.

        The attacks made on M0 (``runs_on: original``) ran once when the evaluation was set
        up; their stored outcomes are reported here."""
        outcomes: dict[str, tuple[Attack, comparisons.Outcomes]] = {}
        for attack in attacks:
            if attack.runs_on == "original":
                _, per_question, found = self._on_original[attack.name]
                metrics |= found
            else:
                populations = (
                    [lab.never_known for lab in self._labels]
                    if "never_known" in (attack.population, self.eval.attack_questions)
                    else forgetting.forgotten
                )
                per_question = self._run_attack(
                    model, attack, populations, forgetting.keytokens, metrics
                )
            self._annotate(forgetting.rows, attack, per_question)
            outcomes[attack.name] = (attack, per_question)
        return outcomes

    def _run_attack(
        self,
        model: torch.nn.Module,
        attack: Attack,
        populations: list[list[bool]],
        keytokens_unlearned: list[list[list[int]]],
        metrics: dict[str, Any],
    ) -> comparisons.Outcomes:
        """One attack on the chosen questions of every forget group it applies to; its rate
        and budget go into ``metrics``."""
        per_question: comparisons.Outcomes = {}
        budget: dict[str, float] = {}
        offset = 0
        for g, group in enumerate(self._forget):
            chosen = [i for i, flag in enumerate(populations[g]) if flag]
            if group.task.kind in attack.kinds:
                target = Target(
                    task=group.task,
                    items=[group.items[i] for i in chosen],
                    units=[group.contributions[i].units for i in chosen],
                    keytokens_original=[group.keytokens[i] for i in chosen],
                    keytokens_unlearned=[keytokens_unlearned[g][i] for i in chosen],
                )
                with scope(attack.name), scope(forget_set(group.task), len(chosen)):
                    run = attack.run(model, target, self.attack_ctx)
                check_outcomes(attack, run, target)
                budget = run.budget or budget
                for i, outcome in zip(chosen, run.outcomes):
                    per_question[offset + i] = outcome
            offset += len(group.items)
        metrics |= comparisons.rate_metrics(attack.rate, per_question.values())
        metrics |= {f"{attack.name}_budget_{k}": v for k, v in budget.items()}
        return per_question

    @staticmethod
    def _annotate(
        rows: list[QuestionRow], attack: Attack, per_question: comparisons.Outcomes
    ) -> None:
        """Every row gets the attack's cell (None / defaults where it was not attacked)."""
        for position, row in enumerate(rows):
            outcome = per_question.get(position)
            if outcome is None or not outcome.attacked:
                extra = dict(attack.extra_columns)
                answers: list[str] = [] if outcome is None else list(outcome.answers)
                row.attacks[attack.column] = AttackCell(None, answers, extra)
            else:
                extra = {**attack.extra_columns, **outcome.extra}
                row.attacks[attack.column] = AttackCell(
                    outcome.recovered, list(outcome.answers), extra
                )


def _name(component: Any) -> str:
    """A registered attack's or metric's name (its class name otherwise), for progress."""
    return str(getattr(component, "name", type(component).__name__))
