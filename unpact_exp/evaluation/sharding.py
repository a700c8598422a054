"""Evaluating items across ranks: each rank answers its shard, every rank gets every answer.

Under DDP, FSDP and FSDP2 every rank holds a full model for evaluation (see
:func:`unpact_exp.training.distributed.full_copy_on_every_rank`). :class:`ShardedTask`
wraps a :class:`~unpact_exp.evaluation.tasks.Task` so that each rank runs the inner task
on ``items[rank::world_size]`` and the per-item outputs are gathered from every rank
and put back in item order. :class:`~unpact_exp.evaluation.evaluator.Evaluator`
then runs unchanged on every rank, and every rank computes the same aggregates from
the same per-item results (rank 0 writes them).

Why the numbers equal one process's: every per-item output of ``answer``,
``contributions`` and ``ask`` depends only on the item (greedy decoding and scoring
with an attention mask over left padding), not on which other items share its batch.
Sampling does not have that property: PROBAB draws from one seeded generator across
all items in batch order, so an item's samples depend on the items before it. ``sample``
is therefore not sharded: every rank runs it on all items (the same seeded draw as one
process), which costs the PROBAB generation once per rank instead of once in total.

The wrapper calls ``gather`` exactly once per sharded call, on every rank in the same
order: ``Evaluator`` decides what to call from gathered (hence identical) results,
and a rank whose part fails still enters the gather, so the failure reaches every rank.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.evaluation.tasks import Answers, Task, TaskContext
from unpact_exp.unpact.contributions import PromptContributions

Gather = Callable[[Any], list[Any]]
"""A collective: this rank's object in, every rank's object out, in rank order."""


def all_gather_objects(obj: Any) -> list[Any]:
    """``obj`` from every rank of the default process group (``all_gather_object``)."""
    import torch.distributed as dist

    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


@dataclass(frozen=True)
class Shard:
    """Which items this rank evaluates, and how the other ranks' results are collected.

    Attributes:
        rank: this process's global rank.
        world_size: how many ranks share the items.
        gather: the collective that returns every rank's object in rank order.
    """

    rank: int
    world_size: int
    gather: Gather

    def take(self, values: Sequence[Any]) -> list[Any]:
        """This rank's shard: every ``world_size``-th value from position ``rank``."""
        return list(values)[self.rank :: self.world_size]

    def merge(self, parts: Sequence[Sequence[Any]]) -> list[Any]:
        """Every rank's shard (in rank order) back into one list in the original order."""
        merged: list[Any] = [None] * sum(len(p) for p in parts)
        for rank, part in enumerate(parts):
            merged[rank :: self.world_size] = list(part)
        return merged

    def run(self, compute: Callable[[], Sequence[Any]]) -> list[Any]:
        """Compute this rank's per-item outputs and gather every rank's, in item order.

        A failure on one rank (a data error, a SIGTERM's ``Interrupted`` between batches)
        is gathered too and raised on every rank, so no rank is left waiting in the
        gather until the process group times out.
        """
        own: BaseException | None = None
        try:
            local, failure = list(compute()), None
        except BaseException as exc:  # re-raised below, on every rank
            own, local, failure = exc, [], _portable(exc)
        parts = self.gather((local, failure))
        if own is not None:
            raise own
        for _, remote in parts:
            if remote is not None:
                raise remote
        return self.merge([outputs for outputs, _ in parts])


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it can travel to the other ranks (pickles), else a RuntimeError naming it."""
    try:
        pickle.dumps(exc)
    except Exception:  # any pickling failure
        return RuntimeError(f"another rank failed during evaluation: {exc!r}")
    return exc


@dataclass(frozen=True)
class ShardedTask:
    """A :class:`~unpact_exp.evaluation.tasks.Task` whose items are split across ranks.

    ``answer``, ``contributions`` and ``ask`` are per item (greedy decoding and scoring),
    so each rank runs them on its shard and every rank gets every result. ``sample`` is
    not: every rank draws for all items from the same seed, as one process would.

    Args:
        inner: the task run on this rank's shard.
        shard: this rank's place and the gather collective.
    """

    inner: Task
    shard: Shard

    @property
    def kind(self) -> str:
        """The inner task's kind (``qa`` or ``mc``)."""
        return self.inner.kind

    @property
    def ctx(self) -> TaskContext:
        """The inner task's context."""
        return self.inner.ctx

    def gold(self, items: Sequence[Any]) -> list[str]:
        """Gold answers: read from the items, no model involved, not sharded."""
        return self.inner.gold(items)

    def judge(self, items: Sequence[Any], answers: Sequence[Sequence[str]]) -> list[list[bool]]:
        """Judging needs no model: every rank judges every answer."""
        return self.inner.judge(items, answers)

    def local(self) -> Task:
        """The inner task: run in this process only, on all the items it is given."""
        return self.inner

    def answer(self, model: torch.nn.Module, items: Sequence[Any]) -> Answers:
        """Each rank answers its shard; the answers are gathered in item order."""

        def compute() -> list[tuple[str, bool]]:
            local = self.shard.take(items)
            answers = self.inner.answer(model, local) if local else Answers([], [])
            return list(zip(answers.texts, answers.correct))

        merged = self.shard.run(compute)
        return Answers(texts=[t for t, _ in merged], correct=[c for _, c in merged])

    def contributions(
        self, model: torch.nn.Module, items: Sequence[Any], answers: Answers
    ) -> list[PromptContributions]:
        """UNPACT on this rank's shard (with the matching answers), gathered in item order."""

        def compute() -> list[PromptContributions]:
            local = self.shard.take(items)
            mine = Answers(self.shard.take(answers.texts), self.shard.take(answers.correct))
            return self.inner.contributions(model, local, mine) if local else []

        return self.shard.run(compute)

    def ask(
        self,
        model: torch.nn.Module,
        items: Sequence[Any],
        questions: Sequence[Sequence[str]],
        icl: Sequence[Any] | None = None,
    ) -> list[list[str]]:
        """Greedy answers on this rank's shard (per item), gathered in item order."""

        def compute() -> list[list[str]]:
            local = self.shard.take(items)
            mine = self.shard.take(questions)
            return self.inner.ask(model, local, mine, icl) if local else []

        return self.shard.run(compute)

    def sample(
        self,
        model: torch.nn.Module,
        items: Sequence[Any],
        num_samples: int,
        temperature: float,
        top_p: float,
        seed: int,
    ) -> list[list[str]]:
        """Sampling on all items on every rank: one seeded draw, as in one process (see above)."""
        return self.inner.sample(model, items, num_samples, temperature, top_p, seed)
