"""A stand-in causal LM that records the token ids it is given (padding removed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch


class RecordingLM(torch.nn.Module):
    """Uniform logits, EOS as every generated token; ``seen`` holds every unpadded input row.

    Args:
        vocab_size: logits width.
        eos_id: the id ``generate`` appends, so every answer is empty.
    """

    def __init__(self, vocab_size: int, eos_id: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.vocab_size = vocab_size
        self.eos_id = eos_id
        self.seen: list[list[int]] = []

    def _record(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
        for row, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            self.seen.append([t for t, m in zip(row, mask) if m])

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: Any = None
    ) -> SimpleNamespace:
        self._record(input_ids, attention_mask)
        return SimpleNamespace(logits=torch.zeros(*input_ids.shape, self.vocab_size))

    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        num_return_sequences: int,
        **_: Any,
    ) -> torch.Tensor:
        self._record(input_ids, attention_mask)
        rows = input_ids.repeat_interleave(num_return_sequences, dim=0)
        return torch.cat([rows, torch.full((rows.shape[0], 1), self.eos_id)], dim=1)
