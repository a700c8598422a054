"""Forget and retain batches, paired per step.

An epoch is defined by the forget set: each step draws one forget batch and one
retain batch. When the retain set is the larger one (the usual case) each epoch
sees a fresh random subset of it (``min_size``); when it is smaller it cycles
(``max_size_cycle``). Lightning injects distributed samplers into both loaders
under DDP/FSDP, so every rank sees its own shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader

from unpact_exp.training.sequences import Example, PadCollator


class UnlearnDataModule(pl.LightningDataModule):
    """Serves ``{"forget": batch, "retain": batch}`` (``retain`` omitted when unused).

    Args:
        forget: encoded forget examples.
        retain: encoded retain examples, or None when no term uses them.
        batch_size: sequences per batch for each of forget and retain.
        pad_id: padding token id.
    """

    def __init__(
        self,
        forget: Sequence[Example],
        retain: Sequence[Example] | None,
        batch_size: int,
        pad_id: int,
    ) -> None:
        super().__init__()
        self.forget = list(forget)
        self.retain = list(retain) if retain is not None else None
        self.batch_size = batch_size
        self.collate = PadCollator(pad_id)

    def _loader(self, data: Sequence[Example], shuffle: bool) -> DataLoader:
        return DataLoader(
            data, batch_size=self.batch_size, shuffle=shuffle, collate_fn=self.collate
        )

    def train_dataloader(self) -> CombinedLoader:
        """Forget and retain loaders combined so each step gets one batch of each."""
        loaders = {"forget": self._loader(self.forget, shuffle=True)}
        if self.retain is None:
            return CombinedLoader(loaders, mode="max_size_cycle")
        loaders["retain"] = self._loader(self.retain, shuffle=True)
        mode = "min_size" if len(self.retain) >= len(self.forget) else "max_size_cycle"
        return CombinedLoader(loaders, mode=mode)

    def forget_batches_in_order(self) -> DataLoader:
        """The whole forget set in fixed order (for caches keyed by example index)."""
        return self._loader(self.forget, shuffle=False)
