"""Which forget examples each rank trains on, and that the caches of M0 are filled for them.

The bug this guards against: NPO's reference cache was filled for the first
``max_steps * batch * world_size`` examples of one process's order, while Lightning's
distributed sampler wrapper gave each rank a differently permuted shard, so a rank could
train on examples that were never cached (``setting=npo+kl trainer=ddp trainer.devices=2``
crashed). Here the datamodule shards the order itself, and the batches the caches are
filled from are compared, tensor for tensor, with the batches each rank's loader serves.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from unpact_exp.training.datamodule import (
    FORGET_STREAM,
    EpochSampler,
    UnlearnDataModule,
    epoch_seed,
)
from unpact_exp.training.sequences import Example


def examples(n: int) -> list[Example]:
    """``n`` examples of different lengths (so padding depends on the batch)."""
    return [
        Example([1] + [2 + i] * (1 + i % 4), [-100] + [2 + i] * (1 + i % 4), i) for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 5, 6, 7])
@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_rank_shards_cover_the_epoch_evenly(n, world_size) -> None:
    shards = []
    for rank in range(world_size):
        sampler = EpochSampler(n, seed=3, stream=FORGET_STREAM, rank=rank, world_size=world_size)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    per_rank = -(-n // world_size)
    assert all(len(shard) == per_rank for shard in shards)  # same number of steps everywhere
    assert set().union(*shards) == set(range(n))
    generator = torch.Generator().manual_seed(epoch_seed(3, 2, FORGET_STREAM))
    order = torch.randperm(n, generator=generator).tolist()
    if world_size == 1:  # one process: the seeded permutation itself, as before
        assert shards[0] == order
    interleaved = [shards[i % world_size][i // world_size] for i in range(n)]
    assert interleaved == order  # rank r takes positions r, r + world_size, ...


def test_a_rank_outside_the_world_is_refused() -> None:
    with pytest.raises(ValueError, match="rank 2 is not in range"):
        EpochSampler(4, 0, 0, rank=2, world_size=2)


def same_batch(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("n_steps", [1, 2, None])
def test_cache_batches_are_every_ranks_training_batches(n_steps) -> None:
    """The batches the caches see = rank 0's first batches, then rank 1's (same padding)."""
    data = UnlearnDataModule(examples(11), None, batch_size=2, pad_id=0, seed=5)
    served = []
    for rank in range(2):
        data.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        loader = data.train_dataloader().iterables["forget"]
        loader.sampler.set_epoch(0)
        batches = list(loader)
        assert len(batches) == 3  # ceil(11 / 2) = 6 examples per rank, batch 2
        served += batches[:n_steps] if n_steps is not None else batches
    cached = list(data.forget_batches_in_order(n_steps, world_size=2))
    assert len(cached) == len(served)
    assert all(same_batch(c, s) for c, s in zip(cached, served))


def test_one_rank_caches_what_one_process_trains_on() -> None:
    data = UnlearnDataModule(examples(7), None, batch_size=3, pad_id=0, seed=1)
    loader = data.train_dataloader().iterables["forget"]  # no trainer attached: one process
    cached = list(data.forget_batches_in_order(None, world_size=1))
    assert all(same_batch(c, s) for c, s in zip(cached, list(loader), strict=True))
