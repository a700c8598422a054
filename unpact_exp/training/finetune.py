"""Plain causal-LM fine-tuning, used to build the tiny target model.

The target must *know* the synthetic world before anything can be unlearned
from it, so it is trained on the raw texts and the QA pairs of every split,
with AdamW and a short linear warm-up.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import Tensor, nn

from unpact_exp.methods import mean_nll


class CausalLMFinetune(pl.LightningModule):
    """Minimise token-mean NLL on the given batches.

    Args:
        model: the HF causal LM to train (built in-process, so it is passed in).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up length, then constant.
    """

    def __init__(self, model: nn.Module, lr: float, weight_decay: float, warmup_steps: int):
        super().__init__()
        self.model = model
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        """NLL of the batch (labels are -100 where no loss is wanted)."""
        logits = self.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
        loss = mean_nll(logits, batch["labels"])
        self.log("target/nll", loss.detach(), prog_bar=True, batch_size=logits.shape[0])
        return loss

    def configure_optimizers(self) -> dict:
        """AdamW with linear warm-up to ``lr``."""
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        warmup = max(1, self.warmup_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
