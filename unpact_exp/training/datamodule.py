"""Forget and retain batches, paired per step, in an order that a resumed run reproduces exactly.

An epoch is defined by the forget set: each step draws one forget batch and one
retain batch. When the retain set is the larger one (the usual case) each epoch
sees a fresh random subset of it (``min_size``); when it is smaller it cycles
(``max_size_cycle``).

Determinism and resume:

- the order of epoch ``e`` is a pure function of ``(seed, e, stream)``
  (:class:`EpochSampler`; Lightning calls ``set_epoch`` before every epoch), so it
  does not depend on how many random numbers anything else drew, nor on whether
  the run was restarted;
- :class:`ResumableDataLoader` reports how many batches of the current pass it has
  served (Lightning saves that in the checkpoint through the loader's
  ``state_dict``) and skips them when a run resumes mid-epoch, so the resumed run
  sees exactly the batches the uninterrupted one would have;
- under DDP/FSDP/FSDP2 each rank takes its own shard of the same seeded order
  (:class:`EpochSampler` with ``rank``/``world_size``: the order padded by its first
  examples to a multiple of ``world_size``, then every ``world_size``-th example from
  position ``rank``, as :class:`torch.utils.data.DistributedSampler` shards). The
  sharding is done here, not by Lightning (the trainer sets
  ``use_distributed_sampler=False``): Lightning's ``DistributedSamplerWrapper`` permutes
  the order a second time with its own seed, so which examples a rank trains on could
  only be predicted by copying Lightning's internals, and the caches of M0's values
  (NPO's reference, token weights) must know exactly that
  (:meth:`UnlearnDataModule.forget_batches_in_order`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Sampler

from unpact_exp.training.sequences import Example, PadCollator

FORGET_STREAM, RETAIN_STREAM = 0, 1


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed mixing ``(seed, epoch, stream)`` (no overlap between nearby seeds/epochs)."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class EpochSampler(Sampler[int]):
    """One rank's share of a random permutation of ``range(n)`` fixed by ``(seed, epoch, stream)``.

    The permutation is padded with its own first entries to a multiple of ``world_size``
    (so every rank serves the same number of examples, hence of batches and steps; a
    collective never waits for a rank that ran out), and rank ``r`` takes positions
    ``r, r + world_size, ...``. With one rank this is the permutation itself.

    Args:
        n: dataset size.
        seed: the run's seed.
        stream: separates the forget and the retain order.
        rank: this process's rank among the ranks sharing each step.
        world_size: how many ranks share each step.
    """

    def __init__(self, n: int, seed: int, stream: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in range(world_size={world_size})")
        self.n = n
        self.seed = seed
        self.stream = stream
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the order of ``epoch`` (Lightning calls this before each epoch)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch, self.stream))
        order = torch.randperm(self.n, generator=generator).tolist()
        total = len(self) * self.world_size
        while len(order) < total:  # pad with the order's own start (several times if n is tiny)
            order += order[: total - len(order)]
        return iter(order[self.rank : total : self.world_size])

    def __len__(self) -> int:
        return -(-self.n // self.world_size)  # ceil(n / world_size)


class ResumableDataLoader(DataLoader):
    """A DataLoader whose position in the current pass is saved in Lightning checkpoints.

    ``state_dict``/``load_state_dict`` make it "stateful" for Lightning 2.x, which
    stores the state under ``loops.fit_loop.state_dict.combined_loader`` and
    restores it before iterating again. The state is the sampler's epoch and the
    number of batches served since the pass began. When the resumed run's first pass
    is over the same epoch, that many batches are skipped (by index, so no skipped
    batch is collated); a pass over another epoch (the checkpoint was taken after
    the epoch's last batch) starts from the top. The order itself comes from the
    sampler, which must be a function of the epoch (:class:`EpochSampler`).

    Iteration is lazy: the state is applied when the first batch is drawn, after
    Lightning has called ``set_epoch`` (it creates the iterator before that on resume).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._served = 0
        self._epoch: int | None = None
        self._resume: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        state, self._resume = self._resume, None
        self._epoch = getattr(self.sampler, "epoch", None)
        skip = 0
        if state is not None and state.get("epoch") == self._epoch:
            skip = int(state.get("served", 0))
        self._served = 0
        if 0 < skip < len(self):
            self._served = skip
            for batch_indices in list(self.batch_sampler)[skip:]:
                self._served += 1
                yield self.collate_fn([self.dataset[i] for i in batch_indices])
            return
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        """The epoch of the current pass and the batches served in it."""
        return {"epoch": self._epoch, "served": self._served}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the pass described by ``state`` when the next pass is over the same epoch."""
        self._resume = dict(state)


class UnlearnDataModule(pl.LightningDataModule):
    """Serves ``{"forget": batch, "retain": batch}`` (``retain`` omitted when unused).

    Args:
        forget: encoded forget examples.
        retain: retain examples (a list, or a dataset that encodes them when fetched), or
            None when no term uses them.
        batch_size: sequences per batch for each of forget and retain.
        pad_id: padding token id.
        seed: seeds the per-epoch order (the run's ``seed``).
        padding_side: ``data.padding_side`` (``right`` or ``left``; see
            :class:`~unpact_exp.training.sequences.PadCollator`).

    Under several ranks the loaders shard the order themselves (:class:`EpochSampler`),
    with the rank and world size of the trainer the datamodule is attached to.
    """

    def __init__(
        self,
        forget: Sequence[Example],
        retain: Sequence[Example] | None,
        batch_size: int,
        pad_id: int,
        seed: int,
        padding_side: str = "right",
    ) -> None:
        super().__init__()
        self.forget = list(forget)
        self.retain = retain  # kept as given: a lazily tokenized corpus must not be listed
        self.batch_size = batch_size
        self.collate = PadCollator(pad_id, padding_side)
        self.seed = seed

    def _ranks(self) -> tuple[int, int]:
        """``(rank, world_size)`` of the attached trainer (``(0, 1)`` without one)."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return int(trainer.global_rank), int(trainer.world_size)

    def _loader(self, data: Sequence[Example], stream: int) -> ResumableDataLoader:
        rank, world_size = self._ranks()
        return ResumableDataLoader(
            data,
            batch_size=self.batch_size,
            sampler=EpochSampler(len(data), self.seed, stream, rank, world_size),
            collate_fn=self.collate,
        )

    def train_dataloader(self) -> CombinedLoader:
        """Forget and retain loaders combined so each step gets one batch of each."""
        loaders = {"forget": self._loader(self.forget, FORGET_STREAM)}
        if self.retain is None:
            return CombinedLoader(loaders, mode="max_size_cycle")
        loaders["retain"] = self._loader(self.retain, RETAIN_STREAM)
        mode = "min_size" if len(self.retain) >= len(self.forget) else "max_size_cycle"
        return CombinedLoader(loaders, mode=mode)

    def forget_batches_in_order(
        self, n_batches: int | None, world_size: int
    ) -> Iterator[dict[str, Any]]:
        """The forget batches of the fit's first epoch, rank by rank (for caches by index).

        The first epoch is where every example is first seen, so per-example caches of M0
        (NPO's reference, token weights) need exactly these. Each rank's batches are the
        ones its training loader serves in the first epoch (same examples, same padding),
        so a value computed from them equals the one that rank's first step computes.
        Every rank's batches are returned, not only this process's: each rank fills its
        cache for every rank's examples, so the caches are identical on all ranks (DDP
        broadcasts rank 0's buffers, rank 0 alone writes them to checkpoints) and, under
        sharding, every rank runs the same forward passes (collectives).

        Args:
            n_batches: batches per rank the fit can run (``max_steps`` times gradient
                accumulation), or None for the whole epoch.
            world_size: ranks sharing each step.

        Returns:
            The batches of rank 0, then of rank 1, ... (collated as they are drawn).
        """
        loaders = []
        for rank in range(world_size):
            sampler = EpochSampler(len(self.forget), self.seed, FORGET_STREAM, rank, world_size)
            order = list(sampler)
            if n_batches is not None:
                order = order[: n_batches * self.batch_size]
            loaders.append(
                DataLoader(
                    self.forget,
                    batch_size=self.batch_size,
                    sampler=order,
                    collate_fn=self.collate,
                )
            )
        return itertools.chain.from_iterable(loaders)
