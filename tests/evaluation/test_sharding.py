"""ShardedTask: each rank runs its shard, every rank gets every item's output in item order.

Ranks are faked with threads in one process: the gather is a barrier-synchronised
exchange, so the real collective pattern (one gather per call, every rank in the same
order) is exercised without a process group.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from unpact_exp.errors import DataError
from unpact_exp.evaluation.sharding import Shard, ShardedTask
from unpact_exp.evaluation.tasks import Answers


class FakeTask:
    """Per-item outputs that depend only on the item; records what each call received."""

    kind = "qa"
    ctx = "the context"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []

    def gold(self, items: Sequence[int]) -> list[str]:
        return [f"gold{i}" for i in items]

    def answer(self, model: Any, items: Sequence[int]) -> Answers:
        self.calls.append(("answer", list(items)))
        return Answers([f"{model}:{i}" for i in items], [i % 3 == 0 for i in items])

    def contributions(self, model: Any, items: Sequence[int], answers: Answers) -> list[Any]:
        self.calls.append(("contributions", list(items)))
        # The answer must travel with its own item: pair them to check the alignment.
        return [(i, text, ok) for i, text, ok in zip(items, answers.texts, answers.correct)]

    def ask(
        self, model: Any, items: Sequence[int], questions: Sequence[Sequence[str]], icl: Any = None
    ) -> list[list[str]]:
        self.calls.append(("ask", list(items)))
        return [[f"{i}|{q}" for q in qs] for i, qs in zip(items, questions)]

    def judge(self, items: Sequence[int], answers: Sequence[Sequence[str]]) -> list[list[bool]]:
        return [[a.startswith(str(i)) for a in tried] for i, tried in zip(items, answers)]

    def sample(
        self, model: Any, items: Sequence[int], num_samples: int, *sampling: Any
    ) -> list[list[str]]:
        self.calls.append(("sample", list(items)))
        # Position-dependent, like one seeded draw across the list: only right unsharded.
        return [[str(p)] * num_samples for p in range(len(items))]

    def local(self) -> FakeTask:
        return self


def run_all(task: Any, items: list[int]) -> tuple[Any, ...]:
    """Every sharded operation, as Evaluator calls them."""
    answers = task.answer("m", items)
    questions = [[f"q{i}a", f"q{i}b"][: i % 3] for i in items]  # 0, 1 or 2 per item
    asked = task.ask("m", items, questions)
    return (
        answers,
        task.contributions("m", items, answers),
        asked,
        task.judge(items, asked),
        task.sample("m", items, 2, 1.0, 1.0, 0),
        task.gold(items),
        task.kind,
        task.ctx,
    )


def thread_gathers(world: int) -> list[Callable[[Any], list[Any]]]:
    """One gather per fake rank: every rank's object, in rank order, to every rank."""
    slots: list[Any] = [None] * world
    barrier = threading.Barrier(world, timeout=30)

    def make(rank: int) -> Callable[[Any], list[Any]]:
        def gather(obj: Any) -> list[Any]:
            slots[rank] = obj
            barrier.wait()
            out = list(slots)
            barrier.wait()  # nobody overwrites a slot before every rank has read them
            return out

        return gather

    return [make(r) for r in range(world)]


def on_fake_ranks(
    world: int, inners: list[Any], items: list[int]
) -> tuple[list[Any], list[BaseException | None]]:
    """``run_all`` on a ShardedTask per fake rank (threads); each rank's result or error."""
    results: list[Any] = [None] * world
    errors: list[BaseException | None] = [None] * world

    def rank_main(rank: int, gather: Callable[[Any], list[Any]]) -> None:
        try:
            results[rank] = run_all(ShardedTask(inners[rank], Shard(rank, world, gather)), items)
        except BaseException as exc:  # surface thread failures in the test
            errors[rank] = exc

    threads = [
        threading.Thread(target=rank_main, args=(r, g)) for r, g in enumerate(thread_gathers(world))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a fake rank is stuck in the gather"
    return results, errors


@pytest.mark.parametrize(("world", "n_items"), [(2, 7), (3, 7), (4, 2), (3, 0)])
def test_every_rank_gets_the_single_process_outputs(world: int, n_items: int) -> None:
    items = [10 + i for i in range(n_items)]
    expected = run_all(FakeTask(), items)
    inners = [FakeTask() for _ in range(world)]
    results, errors = on_fake_ranks(world, inners, items)
    assert errors == [None] * world
    for rank in range(world):
        assert results[rank] == expected
        mine = items[rank::world]
        model_calls = [(name, got) for name, got in inners[rank].calls]
        # Each rank ran the model on its shard only (nothing when its shard is empty) ...
        sharded = [("answer", mine), ("ask", mine), ("contributions", mine)] if mine else []
        # ... except PROBAB sampling, which runs on all items so the seeded draw is the same.
        assert model_calls == [*sharded, ("sample", items)]


def test_merge_restores_order_from_strided_shards() -> None:
    shard = Shard(0, 3, lambda obj: [obj])
    assert shard.take(list("abcdefg")) == ["a", "d", "g"]
    assert shard.merge([["a", "d", "g"], ["b", "e"], ["c", "f"]]) == list("abcdefg")
    assert shard.merge([[], [], []]) == []


class FailingTask(FakeTask):
    """Fails on its shard's answers, as a bad item or a SIGTERM between batches would."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def answer(self, model: Any, items: Sequence[int]) -> Answers:
        raise self.error


class Unpicklable(Exception):
    """An error that cannot travel to the other ranks."""

    def __reduce__(self) -> Any:
        raise TypeError("cannot pickle")


def test_a_failure_on_one_rank_is_raised_on_every_rank() -> None:
    """No rank waits forever in the gather: the failing rank's error reaches all of them."""
    error = DataError("multiple-choice item 'q' has 0 choices")
    results, errors = on_fake_ranks(2, [FakeTask(), FailingTask(error)], [1, 2, 3])
    assert results == [None, None]
    assert errors[1] is error
    assert isinstance(errors[0], DataError) and str(errors[0]) == str(error)


def test_an_unpicklable_failure_reaches_the_other_ranks_as_a_runtime_error() -> None:
    error = Unpicklable("odd")
    _, errors = on_fake_ranks(3, [FakeTask(), FakeTask(), FailingTask(error)], [1, 2, 3, 4])
    assert errors[2] is error
    for other in errors[:2]:
        assert isinstance(other, RuntimeError) and "Unpicklable('odd')" in str(other)
